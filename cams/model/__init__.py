"""Reading a Keras model: its layers and their paths (nested bases, subclassed models), which
transformer tokens reach the head, Keras 2 models, token grids, and what its head outputs."""
