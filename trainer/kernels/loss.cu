// Losses on the output spikes (SLAYER.md section 4), in place: on entry sg
// holds the output spikes (any non-zero value is a spike), on exit dE/ds.
// One thread per column q = b * N + j walks time; part[q] receives the
// column's sum of e^2 (the host forms E = Ts/2 * sum e^2 per sample).

// Backward half shared by both losses: sg holds e; g = Ts * (eps correlated with e).
DEVFN void loss_backward(float* sg, double* hist, int bins, int width, long long q,
                         float ts, const Alpha* eps) {
    AlphaState st = alpha_state();
    for (int step = 0; step < bins; step++) {
        long long i = (long long)(bins - 1 - step) * width + q;
        float v = (float)alpha_step(eps, &st, (double)sg[i], hist, q, width, step);
        sg[i] = v * ts;
    }
}

DEVFN void zero_history(double* hist, int taps, long long q, long long width) {
    for (int k = 0; k < 2 * taps; k++) {
        hist[(long long)k * width + q] = 0.0;
    }
}

// SpikeTime: e = eps * (s - target). `target` is 0/1, laid out like sg.
KERNEL void loss_spike_time(float* RESTRICT sg, const float* RESTRICT target,
                            double* RESTRICT part, double* RESTRICT hist,
                            int bins, int width, float ts,
                            double e_a2, double e_asq, double e_ca, double e_a,
                            double e_ak, double e_ckak, int e_taps) {
    long long q = global_x();
    if (q >= width) {
        return;
    }
    Alpha eps = make_alpha(e_a2, e_asq, e_ca, e_a, e_ak, e_ckak, e_taps);
    AlphaState st = alpha_state();
    double sum = 0.0;
    for (int t = 0; t < bins; t++) {
        long long i = (long long)t * width + q;
        float d = (sg[i] != 0.0f ? 1.0f : 0.0f) - (target[i] != 0.0f ? 1.0f : 0.0f);
        float e = (float)alpha_step(&eps, &st, (double)d, hist, q, width, t);
        sg[i] = e;
        sum += (double)e * (double)e;
    }
    part[q] = sum;
    zero_history(hist, e_taps, q, width);
    loss_backward(sg, hist, bins, width, q, ts, &eps);
}

// NumSpikes: inside [start, stop) the count error (count - want) / L is spread
// over the window; outside it the PSP of the spikes counts as error. want is
// true_count for the column's class (labels[b], -1 for none) and false_count
// otherwise. `neurons` is N (so b = q / N, j = q % N).
KERNEL void loss_num_spikes(float* RESTRICT sg, const int* RESTRICT labels,
                            double* RESTRICT part, double* RESTRICT hist,
                            int bins, int width, int neurons, float ts,
                            int start, int stop, float true_count, float false_count,
                            double e_a2, double e_asq, double e_ca, double e_a,
                            double e_ak, double e_ckak, int e_taps) {
    long long q = global_x();
    if (q >= width) {
        return;
    }
    Alpha eps = make_alpha(e_a2, e_asq, e_ca, e_a, e_ak, e_ckak, e_taps);
    int b = (int)(q / neurons);
    int j = (int)(q % neurons);
    if (start > bins) start = bins;
    if (stop > bins) stop = bins;
    int span = stop - start;
    float len = (float)(span > 1 ? span : 1);
    float count = 0.0f;
    for (int t = start; t < stop; t++) {
        count += sg[(long long)t * width + q] != 0.0f ? 1.0f : 0.0f;
    }
    float want = labels[b] == j ? true_count : false_count;
    float err = (count - want) / len;
    AlphaState st = alpha_state();
    double sum = 0.0;
    for (int t = 0; t < bins; t++) {
        long long i = (long long)t * width + q;
        int inside = t >= start && t < stop;
        float x = (!inside && sg[i] != 0.0f) ? 1.0f : 0.0f;
        float e = (float)alpha_step(&eps, &st, (double)x, hist, q, width, t);
        if (inside) {
            e += err;
        }
        sg[i] = e;
        sum += (double)e * (double)e;
    }
    part[q] = sum;
    zero_history(hist, e_taps, q, width);
    loss_backward(sg, hist, bins, width, q, ts, &eps);
}
