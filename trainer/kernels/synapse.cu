// Moving spikes on and off the device, and dense products without cuBLAS.
//
// The gather kernels are the fallback when libcublas is missing and the
// bit-exact mode of the parity tests: they sum in the CPU's order (inputs in
// increasing index, skipping silent ones), so the forward pass matches the
// CPU bit for bit. cuBLAS is the fast path.

// x[idx[k]] = 1 for k < count (x zeroed beforehand). One thread per spike.
KERNEL void scatter_ones(float* RESTRICT x, const int* RESTRICT idx, int count) {
    long long k = global_x();
    if (k >= count) {
        return;
    }
    x[idx[k]] = 1.0f;
}

// Appends the index of every non-zero element of s to out (order unspecified);
// counter[0] ends as the number of spikes, even past `capacity`.
KERNEL void collect_spikes(const float* RESTRICT s, long long total, int* RESTRICT out,
                           int* RESTRICT counter, int capacity) {
    long long i = global_x();
    if (i >= total || s[i] == 0.0f) {
        return;
    }
    int k = atomicAdd(counter, 1);
    if (k < capacity) {
        out[k] = (int)i;
    }
}

// a[r][j] = sum_i x[r][i] w[i][j] over the non-zero x (x is rows x n_in,
// w is n_in x n_out, input-major). Thread j of block row blockIdx.y; rows
// beyond gridDim.y are visited in a grid-stride loop.
KERNEL void gather_forward(const float* RESTRICT x, const float* RESTRICT w, float* RESTRICT a,
                           int rows, int n_in, int n_out) {
    long long j = global_x();
    if (j >= n_out) {
        return;
    }
    for (long long r = blockIdx.y; r < rows; r += gridDim.y) {
        const float* xr = x + r * n_in;
        float acc = 0.0f;
        for (int i = 0; i < n_in; i++) {
            float v = xr[i];
            if (v != 0.0f) {
                acc += v * w[(long long)i * n_out + j];
            }
        }
        a[r * n_out + j] = acc;
    }
}

// gw[i][j] = sum_r x[r][i] g[r][j] over the non-zero x. Thread j of block row i.
KERNEL void gather_weight_grad(const float* RESTRICT x, const float* RESTRICT g, float* RESTRICT gw,
                               int rows, int n_in, int n_out) {
    long long j = global_x();
    if (j >= n_out) {
        return;
    }
    for (long long i = blockIdx.y; i < n_in; i += gridDim.y) {
        float acc = 0.0f;
        for (long long r = 0; r < rows; r++) {
            float v = x[r * n_in + i];
            if (v != 0.0f) {
                acc += v * g[r * n_out + j];
            }
        }
        gw[i * n_out + j] = acc;
    }
}

// y[i] = x[i] rounded to bfloat16 (nearest, ties to even; NaN stays NaN),
// as raw bits, for the bf16 products (--precision bf16). Grid-stride.
KERNEL void to_bf16(const float* RESTRICT x, unsigned short* RESTRICT y, long long n) {
    for (long long i = global_x(); i < n; i += grid_stride()) {
        unsigned int u = __float_as_uint(x[i]);
        unsigned int r;
        if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu) != 0u) {
            r = (u >> 16) | 0x0040u;
        } else {
            r = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
        }
        y[i] = (unsigned short)r;
    }
}

// gi[r][i] = sum_j g[r][j] (gain w[i][j]): the gradient at the 0/1 input
// spikes. Thread i of block row r.
KERNEL void gather_input_grad(const float* RESTRICT g, const float* RESTRICT w, float* RESTRICT gi,
                              int rows, int n_in, int n_out, float gain) {
    long long i = global_x();
    if (i >= n_in) {
        return;
    }
    const float* wi = w + i * n_out;
    for (long long r = blockIdx.y; r < rows; r += gridDim.y) {
        const float* gr = g + r * n_out;
        float acc = 0.0f;
        for (int j = 0; j < n_out; j++) {
            float d = gr[j];
            if (d != 0.0f) {
                acc += d * (gain * wi[j]);
            }
        }
        gi[r * n_in + i] = acc;
    }
}
