/* lapack.h: the few LAPACK routines compressors/ calls, declared by hand because Debian's
 * libopenblas-dev ships the LAPACK symbols but not lapacke.h. Fortran ABI: everything by
 * pointer, LP64 ints, and a trailing hidden length argument for each CHARACTER argument
 * (gfortran convention, passed explicitly so the call is well defined). */
#ifndef DB_COMPRESSORS_LAPACK_H
#define DB_COMPRESSORS_LAPACK_H

#include <stddef.h>

void spotrf_(const char *uplo, const int *n, float *a, const int *lda, int *info, size_t luplo);
void spotri_(const char *uplo, const int *n, float *a, const int *lda, int *info, size_t luplo);
void strtri_(const char *uplo, const char *diag, const int *n, float *a, const int *lda, int *info,
             size_t luplo, size_t ldiag);
void sgesdd_(const char *jobz, const int *m, const int *n, float *a, const int *lda, float *s,
             float *u, const int *ldu, float *vt, const int *ldvt, float *work, const int *lwork,
             int *iwork, int *info, size_t ljobz);
void sgeqrf_(const int *m, const int *n, float *a, const int *lda, float *tau, float *work,
             const int *lwork, int *info);
void sorgqr_(const int *m, const int *n, const int *k, float *a, const int *lda, const float *tau,
             float *work, const int *lwork, int *info);

#endif
