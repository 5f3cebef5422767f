"""Makes the TCSS 562 pipeline's input images (shipped beside this script):
photo.jpg, a 1024x768 synthetic photo (smooth gradients and blurred
discs, JPEG quality 90, about 60 KB), and logo_rgba.png, a 320x200 RGBA
image with transparency for the greyscale stage's own test. Deterministic:
running it again writes the same pixels."""
import math
import random

from PIL import Image, ImageDraw, ImageFilter

random.seed(562)
w, h = 1024, 768
img = Image.new("RGB", (w, h))
px = img.load()
for y in range(h):
    for x in range(w):
        px[x, y] = (int(120 + 100 * math.sin(x / 90.0)), int(110 + 90 * math.cos(y / 70.0)), int((x + y) * 255 / (w + h)))
d = ImageDraw.Draw(img)
for _ in range(40):
    x, y, r = random.randrange(w), random.randrange(h), random.randrange(10, 90)
    d.ellipse((x - r, y - r, x + r, y + r), fill=(random.randrange(256), random.randrange(256), random.randrange(256)))
img = img.filter(ImageFilter.GaussianBlur(2))
img.save("photo.jpg", quality=90)
logo = Image.new("RGBA", (320, 200), (0, 0, 0, 0))
d = ImageDraw.Draw(logo)
d.rectangle((20, 20, 300, 180), fill=(200, 40, 40, 255))
d.ellipse((100, 40, 220, 160), fill=(40, 200, 90, 128))
logo.save("logo_rgba.png")
