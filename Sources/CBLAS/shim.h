#include <cblas.h>
// Provided by OpenBLAS; declared here so Swift can set the thread count at run time.
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
