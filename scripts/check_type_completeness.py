"""pyright --verifytypes micrograd_cpp: at least MINIMUM percent of the public names have a known type
(`nox -s types` runs this). Prints the score; below the minimum, prints pyright's full report and exits 1.

    python scripts/check_type_completeness.py [MINIMUM]      (default 95)

pyright finds the package through the python on PATH: run it where micrograd_cpp is installed.
"""

from __future__ import annotations

import json
import subprocess
import sys

COMMAND = ["pyright", "--verifytypes", "micrograd_cpp", "--ignoreexternal"]


def main(argv: list[str]) -> None:
    minimum = float(argv[0]) if argv else 95.0
    report = subprocess.run([*COMMAND, "--outputjson"], capture_output=True, text=True, check=False)
    if report.returncode not in (0, 1):
        sys.exit(f"{' '.join(COMMAND)} failed ({report.returncode}):\n{report.stderr}")
    completeness = json.loads(report.stdout)["typeCompleteness"]
    counts = completeness["exportedSymbolCounts"]
    score = 100 * completeness["completenessScore"]
    print(
        f"pyright --verifytypes micrograd_cpp: {score:.1f}% of the {sum(counts.values())} exported symbols "
        f"have a known type ({counts['withAmbiguousType']} ambiguous, {counts['withUnknownType']} unknown)"
    )
    if score < minimum:
        subprocess.run(COMMAND, check=False)
        sys.exit(f"type completeness {score:.1f}% is below {minimum:g}%")


if __name__ == "__main__":
    main(sys.argv[1:])
