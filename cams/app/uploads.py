"""What a person may upload, read into an RGB image, or refused with a message that says what
was wrong and what is accepted."""
import os

from PIL import Image

from cams import images

MAX_PIXELS = 40_000_000     # larger uploads are refused before decoding
MIN_SIDE = 16
MAX_FILE_SIZE = "25mb"
ACCEPTED = "PNG, JPEG, TIFF, BMP or GIF; grayscale, RGB, RGBA or 16-bit"

Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # PIL refuses decompression bombs beyond this


class BadInput(ValueError):
    """An upload or a choice the app cannot use; its message is shown to the person."""


def read_upload(path):
    """An uploaded file as PIL RGB, or BadInput saying what is wrong and what is accepted."""
    if path is None:
        raise BadInput(f"Upload an image first ({ACCEPTED}).")
    if not os.path.isfile(path):
        raise BadInput(f"The upload did not arrive. Upload the image again ({ACCEPTED}).")
    if os.path.getsize(path) == 0:
        raise BadInput(f"The uploaded file is empty. Upload an image ({ACCEPTED}).")
    try:
        with Image.open(path) as probe:
            width, height = probe.size
    except Image.DecompressionBombError:
        raise BadInput(f"The image is too large. Upload one of at most "
                       f"{MAX_PIXELS // 1_000_000} megapixels.") from None
    except Exception:
        raise BadInput(f"This file is not an image this app can read. Upload {ACCEPTED}.") from None
    if width * height > MAX_PIXELS:
        raise BadInput(f"The image is {width}x{height}: too large. Upload one of at most "
                       f"{MAX_PIXELS // 1_000_000} megapixels.")
    if min(width, height) < MIN_SIDE:
        raise BadInput(f"The image is {width}x{height}: too small to explain. Upload one of at "
                       f"least {MIN_SIDE}x{MIN_SIDE} pixels.")
    try:
        return images.read_rgb(path)
    except Exception:
        raise BadInput(f"The image file is corrupt or truncated. Upload a complete image "
                       f"({ACCEPTED}).") from None
