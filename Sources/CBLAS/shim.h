#include <cblas.h>
// Provided by OpenBLAS; declared here so Swift can set the thread count at run time.
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
// LAPACK routines OpenBLAS ships (column-major, Fortran calling convention), for the float64 host linear algebra in
// EmberCore (DenseLinalg): symmetric eigendecomposition and the singular value decomposition.
void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w, double *work,
             const int *lwork, int *iwork, const int *liwork, int *info);
void dgesdd_(const char *jobz, const int *m, const int *n, double *a, const int *lda, double *s, double *u,
             const int *ldu, double *vt, const int *ldvt, double *work, const int *lwork, int *iwork, int *info);
