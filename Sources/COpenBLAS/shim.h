// OpenBLAS's CBLAS interface plus its thread-count controls (openblas_set_num_threads).
// Debian puts cblas.h in the multiarch include folder; pkg-config "openblas" adds the path.
#include <cblas.h>
