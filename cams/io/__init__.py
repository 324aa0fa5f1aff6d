"""Files in and pictures out: images and DICOM read as the models see them, a dataset's
listing, preprocessing by name, the model card beside a model, overlays, and fingerprints of
files and arrays."""
