"""The GStreamer leaks tracer asked from Python which objects are alive
now, as pipelines/faults/fault_row.h does in C++. Through ctypes: the 1.22
tracer's answer holds references it does not own (see fault_row.h), which
must be given back before it is freed, and PyGObject would wrap and drop
them instead."""
import ctypes
import re
import sys


class _GList(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("next", ctypes.c_void_p),
                ("prev", ctypes.c_void_p)]


def alive():
    """How many objects the leaks tracer (GST_TRACERS=leaks) lists as
    alive, but the registry's features (factories: they live as long as the
    registry); each is printed to stderr. -1 without the tracer."""
    gst = ctypes.CDLL("libgstreamer-1.0.so.0")
    gobject = ctypes.CDLL("libgobject-2.0.so.0")
    glib = ctypes.CDLL("libglib-2.0.so.0")
    gst.gst_tracing_get_active_tracers.restype = ctypes.POINTER(_GList)
    gobject.g_type_name_from_instance.restype = ctypes.c_char_p
    gobject.g_type_name_from_instance.argtypes = [ctypes.c_void_p]
    gobject.g_type_from_name.restype = ctypes.c_size_t
    gobject.g_type_is_a.argtypes = [ctypes.c_size_t, ctypes.c_size_t]
    gst.gst_plugin_feature_get_type.restype = ctypes.c_size_t
    gst.gst_structure_to_string.restype = ctypes.c_void_p
    gst.gst_structure_to_string.argtypes = [ctypes.c_void_p]
    gst.gst_structure_free.argtypes = [ctypes.c_void_p]
    glib.g_free.argtypes = [ctypes.c_void_p]
    gst.gst_object_unref.argtypes = [ctypes.c_void_p]

    tracer = None
    node = gst.gst_tracing_get_active_tracers()
    while node:
        data = node.contents.data
        if gobject.g_type_name_from_instance(data) == b"GstLeaksTracer":
            tracer = data
        else:
            gst.gst_object_unref(data)
        node = ctypes.cast(node.contents.next, ctypes.POINTER(_GList))
    if tracer is None:
        return -1
    gst.gst_task_cleanup_all()  # as leaks_tracer.h does, before asking
    info = ctypes.c_void_p()
    gobject.g_signal_emit_by_name(ctypes.c_void_p(tracer), b"get-live-objects",
                                  ctypes.byref(info))
    gst.gst_object_unref(tracer)
    if not info.value:
        return -1
    gst.gst_structure_get_value.restype = ctypes.c_void_p
    gst.gst_structure_get_value.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    gst.gst_value_list_get_size.argtypes = [ctypes.c_void_p]
    gst.gst_value_list_get_value.restype = ctypes.c_void_p
    gst.gst_value_list_get_value.argtypes = [ctypes.c_void_p, ctypes.c_uint]
    gst.gst_value_get_structure.restype = ctypes.c_void_p
    gst.gst_value_get_structure.argtypes = [ctypes.c_void_p]
    gobject.g_value_get_object.restype = ctypes.c_void_p
    gobject.g_value_get_object.argtypes = [ctypes.c_void_p]
    gobject.g_value_get_boxed.restype = ctypes.c_void_p
    gobject.g_value_get_boxed.argtypes = [ctypes.c_void_p]
    gobject.g_object_ref.argtypes = [ctypes.c_void_p]
    gst.gst_mini_object_ref.argtypes = [ctypes.c_void_p]
    feature = gst.gst_plugin_feature_get_type()
    alive = 0
    entries = gst.gst_structure_get_value(info, b"live-objects-list")
    for i in range(gst.gst_value_list_get_size(entries)):
        entry = gst.gst_value_get_structure(gst.gst_value_list_get_value(entries, i))
        # The 1.22 tracer hands over a reference it does not own: give it
        # back before the answer is freed (fault_row.h says more).
        value = gst.gst_structure_get_value(entry, b"object")
        text_pointer = gst.gst_structure_to_string(entry)
        line = ctypes.string_at(text_pointer).decode()
        glib.g_free(text_pointer)
        match = re.search(r"object=\((\w+)\)", line)
        type_name = match.group(1) if match else "?"
        gtype = gobject.g_type_from_name(type_name.encode())
        if gtype and gobject.g_type_is_a(gtype, gobject.g_type_from_name(b"GObject")):
            gobject.g_object_ref(gobject.g_value_get_object(value))
        elif gobject.g_value_get_boxed(value):
            gst.gst_mini_object_ref(gobject.g_value_get_boxed(value))
        if gtype and gobject.g_type_is_a(gtype, feature):
            continue
        alive += 1
        print(f"alive: {line}", file=sys.stderr)
    gst.gst_structure_free(info)
    return alive
