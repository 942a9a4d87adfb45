// Axonal delays and dropout masks (SLAYER.md section 3), and a batch reduction.

// y[t][b][j] = x[t - shift[j]][b][j] (0 before the shift): spikes keep their
// value; those pushed past the last bin are lost. One thread per element.
KERNEL void delay_forward(const float* RESTRICT x, float* RESTRICT y, const int* RESTRICT shift,
                          int bins, int batch, int neurons) {
    long long i = global_x();
    long long width = (long long)batch * neurons;
    if (i >= (long long)bins * width) {
        return;
    }
    int t = (int)(i / width);
    int j = (int)(i % neurons);
    int s = shift[j];
    y[i] = t >= s ? x[i - (long long)s * width] : 0.0f;
}

// Backward of the delay, one thread per column q = b * N + j:
// gx[t] = gy[t + shift] (0 past the end), and the sample's delay gradient
// part[q] = sum_t gy[t] (y[t-1] - y[t]) = sum over spikes of y at t of
// gy[t+1] - gy[t], accumulated in bin order (as the CPU does).
KERNEL void delay_backward(const float* RESTRICT gy, const float* RESTRICT y, float* RESTRICT gx,
                           float* RESTRICT part, const int* RESTRICT shift,
                           int bins, int batch, int neurons) {
    long long q = global_x();
    long long width = (long long)batch * neurons;
    if (q >= width) {
        return;
    }
    int s = shift[(int)(q % neurons)];
    float acc = 0.0f;
    for (int t = 0; t < bins; t++) {
        long long i = (long long)t * width + q;
        gx[i] = t + s < bins ? gy[i + (long long)s * width] : 0.0f;
        if (y[i] != 0.0f) {
            float next = t + 1 < bins ? gy[i + width] : 0.0f;
            acc += next - gy[i];
        }
    }
    part[q] = acc;
}

// out[j] = sum_b part[b * N + j], in batch order.
KERNEL void sum_batch(const float* RESTRICT part, float* RESTRICT out, int batch, int neurons) {
    long long j = global_x();
    if (j >= neurons) {
        return;
    }
    float acc = 0.0f;
    for (int b = 0; b < batch; b++) {
        acc += part[(long long)b * neurons + j];
    }
    out[j] = acc;
}

// Dropout forward: every spike of column q becomes m[q] (the new gain for a
// kept neuron, 0 for a dropped one). One thread per element.
KERNEL void mask_spikes(float* RESTRICT x, const float* RESTRICT m, int bins, int width) {
    long long i = global_x();
    if (i >= (long long)bins * width) {
        return;
    }
    x[i] = x[i] != 0.0f ? m[i % width] : 0.0f;
}

// Dropout backward: g[t][q] *= m[q] (1 kept, 0 dropped). One thread per element.
KERNEL void mask_grad(float* RESTRICT g, const float* RESTRICT m, int bins, int width) {
    long long i = global_x();
    if (i >= (long long)bins * width) {
        return;
    }
    g[i] = g[i] * m[i % width];
}
