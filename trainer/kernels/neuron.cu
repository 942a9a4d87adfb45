// SRM neurons: the fused forward scan and the backward scan (SLAYER.md sections 1-2).
// One thread per column (sample x neuron) walks time.

// Forward: on entry u holds the synaptic input a = W s of every bin; on exit
// the membrane potential after refractory additions (written once per bin),
// and s the 0/1 spikes. Per bin: psp = (eps * a)[t] (rounded to f32, as the
// CPU stores it), r = (nu * s)[t] from the spikes before t, v = psp + r,
// spike when v >= theta (compared in double, before rounding, as the CPU does).
KERNEL void srm_forward(float* RESTRICT u, float* RESTRICT s, double* RESTRICT hist,
                        int bins, int width,
                        double e_a2, double e_asq, double e_ca, double e_a,
                        double e_ak, double e_ckak, int e_taps,
                        double n_a2, double n_asq, double nu1, double theta) {
    long long q = global_x();
    if (q >= width) {
        return;
    }
    Alpha eps = make_alpha(e_a2, e_asq, e_ca, e_a, e_ak, e_ckak, e_taps);
    AlphaState st = alpha_state();
    double r1 = 0.0, r2 = 0.0, sp = 0.0;
    for (int t = 0; t < bins; t++) {
        long long i = (long long)t * width + q;
        float psp = (float)alpha_step(&eps, &st, (double)u[i], hist, q, width, t);
        double r = n_a2 * r1 - n_asq * r2 + nu1 * sp;
        double v = (double)psp + r;
        int fire = v >= theta;
        u[i] = (float)v;
        s[i] = fire ? 1.0f : 0.0f;
        sp = fire ? 1.0 : 0.0;
        r2 = r1;
        r1 = r;
    }
}

// Backward: on entry g holds dE/ds_out; on exit dE/da, the gradient at the
// synaptic input. Per bin, walking time backwards: g_u = g * Ts rho(u) (f32,
// as the CPU), then the time-reversed eps filter (the correlation).
// scale = Ts * scaleRho / (tauRho theta), inv = 1 / (tauRho theta).
KERNEL void srm_backward(const float* RESTRICT u, float* RESTRICT g, double* RESTRICT hist,
                         int bins, int width, float theta, float scale, float inv,
                         double e_a2, double e_asq, double e_ca, double e_a,
                         double e_ak, double e_ckak, int e_taps) {
    long long q = global_x();
    if (q >= width) {
        return;
    }
    Alpha eps = make_alpha(e_a2, e_asq, e_ca, e_a, e_ak, e_ckak, e_taps);
    AlphaState st = alpha_state();
    for (int step = 0; step < bins; step++) {
        long long i = (long long)(bins - 1 - step) * width + q;
        float rho = scale * expf(-fabsf(u[i] - theta) * inv);
        float gu = g[i] * rho;
        g[i] = (float)alpha_step(&eps, &st, (double)gu, hist, q, width, step);
    }
}
