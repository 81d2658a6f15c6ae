// libpng's simplified API (png_image_*), used to write the example images of report.html and, in the
// tests, to decode them again.
#include <png.h>
