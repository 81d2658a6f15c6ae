// Per-instruction-set vector helpers that the kernels written once over a SUFFIX (plane_copies.c's
// copies, dense_narrow.c's gradients) call as name_##SUFFIX: a vector of the first n lanes loaded or
// stored, a broadcast, a sum, a zero, a fused multiply–add. x86 only; include after <immintrin.h>.
#ifndef ADV_VECTOR_LANES_H
#define ADV_VECTOR_LANES_H

typedef __m512 vector_avx512;
typedef __m256 vector_avx2;

#define ADV_LANES_AVX512 __attribute__((target("avx512f"))) static inline
#define ADV_LANES_AVX2 __attribute__((target("avx2,fma"))) static inline

// AVX-512: the first n of sixteen lanes.
ADV_LANES_AVX512 __mmask16 lanes_avx512(long n) {
    return (__mmask16)(n >= 16 ? 0xFFFF : n <= 0 ? 0 : (1u << n) - 1);
}

// The n floats from s (n may be below 1 or above 16), and whatever follows them up to a whole vector
// where that lies before `end`.
ADV_LANES_AVX512 __m512 load_avx512(const float *s, long n, const float *end) {
    return s + 16 <= end ? _mm512_loadu_ps(s) : _mm512_maskz_loadu_ps(lanes_avx512(n), s);
}

// The first n lanes of v to t (all sixteen when n is 16 or more).
ADV_LANES_AVX512 void store_avx512(float *t, long n, __m512 v) {
    if (n >= 16) {
        _mm512_storeu_ps(t, v);
    } else {
        _mm512_mask_storeu_ps(t, lanes_avx512(n), v);
    }
}

ADV_LANES_AVX512 __m512 broadcast_avx512(float x) { return _mm512_set1_ps(x); }
ADV_LANES_AVX512 __m512 add_avx512(__m512 a, __m512 b) { return _mm512_add_ps(a, b); }
ADV_LANES_AVX512 __m512 zero_avx512(void) { return _mm512_setzero_ps(); }
ADV_LANES_AVX512 __m512 fmadd_avx512(__m512 a, __m512 b, __m512 c) { return _mm512_fmadd_ps(a, b, c); }

// AVX2: the first n of eight lanes, as a lane mask.
ADV_LANES_AVX2 __m256i lanes_avx2(long n) {
    const long clamped = n < 0 ? 0 : n > 8 ? 8 : n;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)clamped), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

ADV_LANES_AVX2 __m256 load_avx2(const float *s, long n, const float *end) {
    return s + 8 <= end ? _mm256_loadu_ps(s) : _mm256_maskload_ps(s, lanes_avx2(n));
}

ADV_LANES_AVX2 void store_avx2(float *t, long n, __m256 v) {
    if (n >= 8) {
        _mm256_storeu_ps(t, v);
    } else {
        _mm256_maskstore_ps(t, lanes_avx2(n), v);
    }
}

ADV_LANES_AVX2 __m256 broadcast_avx2(float x) { return _mm256_set1_ps(x); }
ADV_LANES_AVX2 __m256 add_avx2(__m256 a, __m256 b) { return _mm256_add_ps(a, b); }
ADV_LANES_AVX2 __m256 zero_avx2(void) { return _mm256_setzero_ps(); }
ADV_LANES_AVX2 __m256 fmadd_avx2(__m256 a, __m256 b, __m256 c) { return _mm256_fmadd_ps(a, b, c); }

#endif
