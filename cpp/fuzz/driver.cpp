// A deterministic driver for fuzz_graph.cpp where libFuzzer is not available
// (GCC, MSVC): feeds LLVMFuzzerTestOneInput random programs from a seeded
// generator, or replays the files named on the command line.
//
//     micrograd_fuzz_driver [--runs N] [--seconds S] [--seed X] [--max-len L] [--save F] [file ...]
//
// Prints the number of programs run and their rate. The same seed runs the
// same programs, so a failure is reproduced by its seed and run number
// (printed before each run with --verbose); --save F writes each program to F
// before it runs, so after a crash F holds the failing one, to replay as a file.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

std::uint64_t splitmix64(std::uint64_t& state) {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

int replay(const char* path) {
    std::ifstream file(path, std::ios::binary);
    if (!file) {
        std::fprintf(stderr, "cannot read %s\n", path);
        return 1;
    }
    const std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
    std::printf("replayed %s (%zu bytes)\n", path, bytes.size());
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    long runs = -1;
    double seconds = -1.0;
    std::uint64_t seed = 1;
    std::size_t max_len = 512;
    bool verbose = false;
    const char* save = nullptr;
    std::vector<const char*> files;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        const bool has_value = i + 1 < argc;
        if (arg == "--runs" && has_value) {
            runs = std::atol(argv[++i]);
        } else if (arg == "--seconds" && has_value) {
            seconds = std::atof(argv[++i]);
        } else if (arg == "--seed" && has_value) {
            seed = std::strtoull(argv[++i], nullptr, 10);
        } else if (arg == "--max-len" && has_value) {
            max_len = std::size_t(std::atol(argv[++i]));
        } else if (arg == "--save" && has_value) {
            save = argv[++i];
        } else if (arg == "--verbose") {
            verbose = true;
        } else if (arg.rfind("--", 0) == 0) {
            std::fprintf(
                stderr,
                "usage: %s [--runs N] [--seconds S] [--seed X] [--max-len L] [--verbose] [--save F] [file ...]\n",
                argv[0]);
            return 2;
        } else {
            files.push_back(argv[i]);
        }
    }
    if (!files.empty()) {
        for (const char* path : files)
            if (replay(path) != 0) return 1;
        return 0;
    }
    if (runs < 0 && seconds < 0) runs = 10000;

    std::uint64_t state = seed;
    std::vector<std::uint8_t> input;
    const auto start = std::chrono::steady_clock::now();
    double elapsed = 0.0;
    long done = 0;
    std::size_t bytes = 0;
    for (; runs < 0 || done < runs; ++done) {
        if (seconds >= 0 && (done & 63) == 0) {
            elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            if (elapsed >= seconds) break;
        }
        input.resize(std::size_t(splitmix64(state) % (max_len + 1)));
        for (auto& b : input)
            b = std::uint8_t(splitmix64(state));
        if (verbose) std::fprintf(stderr, "seed %llu run %ld\n", static_cast<unsigned long long>(seed), done);
        if (save != nullptr) {
            std::ofstream file(save, std::ios::binary | std::ios::trunc);
            file.write(reinterpret_cast<const char*>(input.data()), std::streamsize(input.size()));
            if (!file) {
                std::fprintf(stderr, "cannot write %s\n", save);
                return 1;
            }
        }
        LLVMFuzzerTestOneInput(input.data(), input.size());
        bytes += input.size();
    }
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("fuzz_graph: %ld programs (%zu bytes) in %.1f s: %.0f programs/s, seed %llu\n", done, bytes, elapsed,
                elapsed > 0 ? double(done) / elapsed : 0.0, static_cast<unsigned long long>(seed));
    return 0;
}
