// Shared by every kernel module of the CUDA backend (prepended to each
// module's source before NVRTC compiles it; see trainer/src/backend/cuda/kernels.rs).
//
// Layout: time-major [T, B, N]. Element (t, b, j) lives at (t * B + b) * N + j,
// so a "column" q = b * N + j is one neuron of one sample, and its values over
// time sit `width = B * N` apart. Neuron and loss kernels run one thread per
// column and walk time, so neighbouring threads touch neighbouring addresses.
//
// The two-pole filter state is kept in double precision, exactly as the CPU
// backend does (SLAYER.md section 1: the double pole amplifies f32 rounding),
// and every operation is written in the order of the CPU code. Compiled with
// --fmad=false, the filters then give bit-identical results to the CPU.
//
// Kernels must not use shared memory, barriers or warp intrinsics: the tests
// run the same source on the host, one thread after the other (SLAYER_EMU).

#ifndef SLAYER_EMU
#define KERNEL extern "C" __global__
#define DEVFN static __device__ __forceinline__
#define RESTRICT __restrict__
#endif

// A sampled alpha kernel k[n] = C * n * a^n, optionally cut after `taps`
// samples, as the O(1)-per-step recursion of trainer/src/neuron/kernel.rs:
//   y[n] = 2a * y[n-1] - a^2 * y[n-2] + C a * x[n-1]
// and, when truncated (taps > 0), with z[n] = a z[n-1] + x[n],
//   y_K[n] = y[n] - a^K * y[n-K] - C K a^K * z[n-K].
typedef struct {
    double a2;    // 2a
    double asq;   // a * a
    double ca;    // C a = k[1]
    double a;     // the pole a (truncated mode only)
    double ak;    // a^K
    double ckak;  // C K a^K
    int taps;     // K, or 0 when untruncated
} Alpha;

typedef struct {
    double y1, y2, xp, z;
} AlphaState;

DEVFN Alpha make_alpha(double a2, double asq, double ca, double a, double ak, double ckak, int taps) {
    Alpha f;
    f.a2 = a2;
    f.asq = asq;
    f.ca = ca;
    f.a = a;
    f.ak = ak;
    f.ckak = ckak;
    f.taps = taps;
    return f;
}

DEVFN AlphaState alpha_state(void) {
    AlphaState s;
    s.y1 = 0.0;
    s.y2 = 0.0;
    s.xp = 0.0;
    s.z = 0.0;
    return s;
}

// One step of the filter for column q at step number `step` (0, 1, 2, ... in
// the direction of travel). `hist` holds the K-deep history of y and z of
// every column when truncated: slot s of column q at hist[(2s) * width + q]
// (y) and hist[(2s + 1) * width + q] (z); it must start zeroed.
DEVFN double alpha_step(const Alpha* f, AlphaState* st, double x, double* hist,
                        long long q, long long width, int step) {
    double y = f->a2 * st->y1 - f->asq * st->y2 + f->ca * st->xp;
    st->xp = x;
    st->y2 = st->y1;
    st->y1 = y;
    if (f->taps == 0) {
        return y;
    }
    double zn = f->a * st->z + x;
    long long slot = (long long)(step % f->taps);
    double* hy = hist + (2 * slot) * width + q;
    double* hz = hist + (2 * slot + 1) * width + q;
    double out = y - f->ak * (*hy) - f->ckak * (*hz);
    *hy = y;
    *hz = zn;
    st->z = zn;
    return out;
}

DEVFN long long global_x(void) {
    return (long long)blockIdx.x * (long long)blockDim.x + (long long)threadIdx.x;
}

// The step of a grid-stride loop: every thread of the launch.
DEVFN long long grid_stride(void) {
    return (long long)gridDim.x * (long long)blockDim.x;
}
