"""The interchangeable Grad-CAM backends, by name."""
from cams.backends.eager import EagerBackend
from cams.backends.graph import GraphBackend
from cams.backends.tfkv import TfKerasVisBackend

BACKEND_CLASSES = {b.name: b for b in (EagerBackend, GraphBackend, TfKerasVisBackend)}
BACKENDS = tuple(BACKEND_CLASSES)
