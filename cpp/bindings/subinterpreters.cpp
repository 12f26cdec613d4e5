// micrograd_cpp._core in the main interpreter only: its entry point, PyInit__core.
//
// One interpreter per process: the engine's free lists, node counts and the Value type are process
// globals. The module declares itself unsupported in subinterpreters (the Py_mod_multiple_interpreters
// slot), but Python enforces that slot only from 3.12 and only for subinterpreters with their own
// config ("isolated"): a legacy-config subinterpreter of 3.12+ runs the module's exec slot anyway (with
// the definition cached from the main interpreter, without calling PyInit__core again), which would
// replace the main interpreter's Value type; and on 3.11 the PyInit__core that PYBIND11_MODULE writes
// blocks for ever in a subinterpreter (pybind11's internals lookup calls PyGILState_Ensure, which waits
// for the GIL this thread holds). So module.cpp renames pybind11's entry point, and the PyInit__core
// below refuses a subinterpreter itself and wraps the exec slot with the same check: pybind11 never
// runs outside the main interpreter, on any version.
#include <Python.h>
#include <pybind11/pybind11.h>

// pybind11's PyInit__core, renamed by module.cpp.
extern "C" PyObject* micrograd_pybind11_init_core();

namespace {

bool refuse_subinterpreter() {
    if (PyInterpreterState_Get() == PyInterpreterState_Main()) return false;
    PyErr_SetString(PyExc_ImportError,
                    "micrograd_cpp._core does not support subinterpreters: import micrograd_cpp in the main "
                    "interpreter");
    return true;
}

int (*pybind11_exec)(PyObject*) = nullptr;

int exec_in_main_interpreter(PyObject* module) { return refuse_subinterpreter() ? -1 : pybind11_exec(module); }

}  // namespace

extern "C" PYBIND11_EXPORT PyObject* PyInit__core() {
    if (refuse_subinterpreter()) return nullptr;
    PyObject* def = micrograd_pybind11_init_core();  // the static PyModuleDef, as PyModuleDef_Init returns it
    if (!def) return nullptr;
    for (PyModuleDef_Slot* slot = reinterpret_cast<PyModuleDef*>(def)->m_slots; slot->slot != 0; ++slot) {
        if (slot->slot == Py_mod_exec && slot->value != reinterpret_cast<void*>(exec_in_main_interpreter)) {
            pybind11_exec = reinterpret_cast<int (*)(PyObject*)>(slot->value);
            slot->value = reinterpret_cast<void*>(exec_in_main_interpreter);
        }
    }
    return def;
}
