// zlib's gzip file interface (gzopen/gzread), used to read the .gz IDX datasets directly.
#include <zlib.h>
