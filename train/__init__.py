"""Chest X-ray classifiers: phantoms, data, models, training and evaluation."""

BACKBONES = ("vgg16", "mobilenetv2", "densenet121", "efficientnetb0", "vit")  # what train.model builds (light to import)
