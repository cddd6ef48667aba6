/* simapi_async._cmodels: the two steps that make many models at once, compiled.

   Built by hatch_build.py when a C compiler is there (else the package runs the same
   steps in Python: simapi_async/_rows.py, which imports this module when it can).
   Both steps only move references: what a value must be is decided in Python
   (_converter._cdr_columns), so this file holds no rule of the API's.

   columns(items, keys) -> list of tuples
       Column j holds items[i][keys[j]] for every i. TypeError if an item is not exactly
       a dict (a subclass may change lookups: Python decides), KeyError if a key is
       missing. As list(zip(*map(itemgetter(*keys), items))), without a tuple a record.

   fill(cls, descriptors, columns) -> list
       len(columns[0]) new instances of cls, made as object.__new__(cls) makes them (no
       __init__), the slot of descriptors[j] holding columns[j][i]. Each descriptor
       must be a plain object slot (a member descriptor) of cls or of a base of it. As
       descriptors[j].__set__(model, value) for every model and value, without the call.
*/
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#define MAX_COLUMNS 64

static PyObject *
columns(PyObject *module, PyObject *args)
{
    PyObject *given, *keys;
    if (!PyArg_ParseTuple(args, "O!O!:columns", &PyList_Type, &given, &PyTuple_Type, &keys))
        return NULL;
    /* A snapshot: a key's __eq__ (any Python code) cannot change what is read. */
    PyObject *items = PyList_AsTuple(given);
    if (items == NULL)
        return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(items), m = PyTuple_GET_SIZE(keys);
    PyObject *out = PyList_New(m);
    if (out == NULL)
        goto fail;
    for (Py_ssize_t j = 0; j < m; j++) {
        PyObject *column = PyTuple_New(n);
        if (column == NULL)
            goto fail;
        PyList_SET_ITEM(out, j, column);
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *d = PyTuple_GET_ITEM(items, i);
        if (!PyDict_CheckExact(d)) {
            PyErr_Format(PyExc_TypeError, "item %zd is a %.100s, not a dict", i,
                         Py_TYPE(d)->tp_name);
            goto fail;
        }
        for (Py_ssize_t j = 0; j < m; j++) {
            PyObject *key = PyTuple_GET_ITEM(keys, j);
            PyObject *value = PyDict_GetItemWithError(d, key);
            if (value == NULL) {
                if (!PyErr_Occurred()) {  /* KeyError(key), even for a tuple key */
                    PyObject *error = PyObject_CallOneArg(PyExc_KeyError, key);
                    if (error != NULL) {
                        PyErr_SetObject(PyExc_KeyError, error);
                        Py_DECREF(error);
                    }
                }
                goto fail;
            }
            Py_INCREF(value);
            PyTuple_SET_ITEM(PyList_GET_ITEM(out, j), i, value);
        }
    }
    Py_DECREF(items);
    return out;
fail:
    Py_DECREF(items);
    Py_XDECREF(out);
    return NULL;
}

static PyObject *
fill(PyObject *module, PyObject *args)
{
    PyTypeObject *cls;
    PyObject *descriptors, *given;
    if (!PyArg_ParseTuple(args, "O!O!O:fill", &PyType_Type, &cls, &PyTuple_Type,
                          &descriptors, &given))
        return NULL;
    if (cls->tp_flags & Py_TPFLAGS_IS_ABSTRACT) {
        PyErr_Format(PyExc_TypeError, "%.100s is abstract", cls->tp_name);
        return NULL;
    }
    Py_ssize_t m = PyTuple_GET_SIZE(descriptors);
    if (m > MAX_COLUMNS) {
        PyErr_Format(PyExc_ValueError, "at most %d slots", MAX_COLUMNS);
        return NULL;
    }
    Py_ssize_t offsets[MAX_COLUMNS];
    for (Py_ssize_t j = 0; j < m; j++) {
        PyObject *d = PyTuple_GET_ITEM(descriptors, j);
        if (!Py_IS_TYPE(d, &PyMemberDescr_Type)) {
            PyErr_Format(PyExc_TypeError, "descriptor %zd is a %.100s, not a slot", j,
                         Py_TYPE(d)->tp_name);
            return NULL;
        }
        PyMemberDef *member = ((PyMemberDescrObject *)d)->d_member;
        if (member->type != T_OBJECT_EX || (member->flags & READONLY)
                || !PyType_IsSubtype(cls, PyDescr_TYPE(d))) {
            PyErr_Format(PyExc_TypeError, "descriptor %zd is not a writable object slot "
                         "of %.100s", j, cls->tp_name);
            return NULL;
        }
        offsets[j] = member->offset;
    }
    /* Tuples: nothing other Python code (a finalizer run by the collector while the
       instances are allocated) can change under the loop. */
    PyObject *seq = PySequence_Fast(given, "fill: columns must be a sequence");
    if (seq == NULL)
        return NULL;
    if (PySequence_Fast_GET_SIZE(seq) != m) {
        PyErr_Format(PyExc_ValueError, "%zd columns for %zd slots",
                     PySequence_Fast_GET_SIZE(seq), m);
        Py_DECREF(seq);
        return NULL;
    }
    PyObject *cols[MAX_COLUMNS] = {NULL};
    PyObject *out = NULL;
    Py_ssize_t n = 0;
    for (Py_ssize_t j = 0; j < m; j++) {
        cols[j] = PySequence_Tuple(PySequence_Fast_GET_ITEM(seq, j));
        if (cols[j] == NULL)
            goto done;
        if (j == 0)
            n = PyTuple_GET_SIZE(cols[0]);
        else if (PyTuple_GET_SIZE(cols[j]) != n) {
            PyErr_Format(PyExc_ValueError, "column %zd has %zd values, column 0 has %zd", j,
                         PyTuple_GET_SIZE(cols[j]), n);
            goto done;
        }
    }
    out = PyList_New(n);
    if (out == NULL)
        goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *obj = cls->tp_alloc(cls, 0);
        if (obj == NULL) {
            Py_CLEAR(out);
            goto done;
        }
        PyList_SET_ITEM(out, i, obj);
        for (Py_ssize_t j = 0; j < m; j++) {
            PyObject *value = PyTuple_GET_ITEM(cols[j], i);
            PyObject **slot = (PyObject **)((char *)obj + offsets[j]);
            Py_INCREF(value);
            Py_XSETREF(*slot, value);  /* a slot named twice: the last value, no leak */
        }
    }
done:
    for (Py_ssize_t j = 0; j < m; j++)
        Py_XDECREF(cols[j]);
    Py_DECREF(seq);
    return out;
}

static PyMethodDef methods[] = {
    {"columns", columns, METH_VARARGS, "columns(items, keys): the values of keys, a tuple a key."},
    {"fill", fill, METH_VARARGS, "fill(cls, descriptors, columns): new instances, slots filled."},
    {NULL, NULL, 0, NULL},
};

static int
exec_module(PyObject *module)
{
    /* _rows.py uses this module only when VERSION is the one it was written for. */
    return PyModule_AddIntConstant(module, "VERSION", 1);
}

static PyModuleDef_Slot slots[] = {
    {Py_mod_exec, exec_module},
    {0, NULL},
};

static struct PyModuleDef definition = {
    PyModuleDef_HEAD_INIT, "simapi_async._cmodels",
    "Many models at once, compiled (see _rows.py).", 0, methods, slots,
};

PyMODINIT_FUNC
PyInit__cmodels(void)
{
    return PyModuleDef_Init(&definition);
}
