// Convolution and sum-pooling synapses, per time bin (SLAYER.md section 3),
// on [rows, C, H, W] tensors: row r = t * B + b, channel, then y, then x.
//
// The forward kernels sum in the CPU's order (trainer/src/layers/conv.rs,
// pool.rs: every output accumulates its input spikes in increasing input
// index, skipping silent ones, starting from 0), so membrane potentials and
// spikes match the CPU bit for bit. The gradients sum in another order
// (within f32 rounding of the CPU's).
//
// Every kernel walks its elements in a grid-stride loop, one thread per
// output element, with 64-bit indices.
//
// Geometry, in this order in every conv kernel:
//   ic, ih, iw   input channels, height, width
//   oc, oh, ow   output channels, height, width
//   kh, kw       kernel size
//   sy, sx       stride
//   py, px       zero padding (both sides)

// a[r, o, oy, ox] = sum_{c, ky, kx} x[r, c, oy*sy - py + ky, ox*sx - px + kx] w[o, c, ky, kx]
// over the non-zero inputs inside the image, in increasing input index.
KERNEL void conv_forward(const float* RESTRICT x, const float* RESTRICT w, float* RESTRICT a,
                         int rows, int ic, int ih, int iw, int oc, int oh, int ow, int kh, int kw,
                         int sy, int sx, int py, int px) {
    long long total = (long long)rows * oc * oh * ow;
    for (long long i = global_x(); i < total; i += grid_stride()) {
        int ox = (int)(i % ow);
        long long t = i / ow;
        int oy = (int)(t % oh);
        t /= oh;
        int o = (int)(t % oc);
        long long r = t / oc;
        const float* xr = x + r * ic * ih * iw;
        const float* wo = w + (long long)o * ic * kh * kw;
        int y0 = oy * sy - py, x0 = ox * sx - px;
        float acc = 0.0f;
        for (int c = 0; c < ic; c++) {
            for (int ky = 0; ky < kh; ky++) {
                int iy = y0 + ky;
                if (iy < 0 || iy >= ih) {
                    continue;
                }
                const float* xrow = xr + ((long long)c * ih + iy) * iw;
                const float* wrow = wo + ((long long)c * kh + ky) * kw;
                for (int kx = 0; kx < kw; kx++) {
                    int ix = x0 + kx;
                    if (ix < 0 || ix >= iw) {
                        continue;
                    }
                    float v = xrow[ix];
                    if (v != 0.0f) {
                        acc += v * wrow[kx];
                    }
                }
            }
        }
        a[i] = acc;
    }
}

// Partial weight gradients over chunks of `chunk` rows:
// part[k, o, c, ky, kx] = sum over rows r of chunk k and outputs (oy, ox) of
// x[r, c, oy*sy - py + ky, ox*sx - px + kx] g[r, o, oy, ox] (non-zero x only).
// sum_batch then adds the chunks.
KERNEL void conv_weight_grad(const float* RESTRICT x, const float* RESTRICT g,
                             float* RESTRICT part, int rows, int chunk,
                             int ic, int ih, int iw, int oc, int oh, int ow, int kh, int kw,
                             int sy, int sx, int py, int px) {
    long long nw = (long long)oc * ic * kh * kw;
    long long chunks = ((long long)rows + chunk - 1) / chunk;
    long long total = chunks * nw;
    for (long long i = global_x(); i < total; i += grid_stride()) {
        long long wi = i % nw;
        long long k = i / nw;
        int kx = (int)(wi % kw);
        long long t = wi / kw;
        int ky = (int)(t % kh);
        t /= kh;
        int c = (int)(t % ic);
        int o = (int)(t / ic);
        // Output rows / columns whose tap (ky, kx) lies inside the image.
        int oy0 = 0, oy1 = oh, ox0 = 0, ox1 = ow;
        while (oy0 < oh && oy0 * sy - py + ky < 0) oy0++;
        while (oy1 > oy0 && (oy1 - 1) * sy - py + ky >= ih) oy1--;
        while (ox0 < ow && ox0 * sx - px + kx < 0) ox0++;
        while (ox1 > ox0 && (ox1 - 1) * sx - px + kx >= iw) ox1--;
        long long r1 = (k + 1) * chunk < rows ? (k + 1) * chunk : rows;
        float acc = 0.0f;
        for (long long r = k * chunk; r < r1; r++) {
            const float* xc = x + (r * ic + c) * ih * iw;
            const float* go = g + (r * oc + o) * oh * ow;
            for (int oy = oy0; oy < oy1; oy++) {
                const float* xrow = xc + (long long)(oy * sy - py + ky) * iw;
                const float* grow = go + (long long)oy * ow;
                for (int ox = ox0; ox < ox1; ox++) {
                    float v = xrow[ox * sx - px + kx];
                    if (v != 0.0f) {
                        acc += v * grow[ox];
                    }
                }
            }
        }
        part[i] = acc;
    }
}

// gi[r, c, iy, ix] = sum over (o, ky, kx) reaching an output (oy, ox) of
// g[r, o, oy, ox] (gain w[o, c, ky, kx]): the transposed convolution.
KERNEL void conv_input_grad(const float* RESTRICT g, const float* RESTRICT w, float* RESTRICT gi,
                            int rows, int ic, int ih, int iw, int oc, int oh, int ow, int kh,
                            int kw, int sy, int sx, int py, int px, float gain) {
    long long total = (long long)rows * ic * ih * iw;
    for (long long i = global_x(); i < total; i += grid_stride()) {
        int ix = (int)(i % iw);
        long long t = i / iw;
        int iy = (int)(t % ih);
        t /= ih;
        int c = (int)(t % ic);
        long long r = t / ic;
        const float* gr = g + r * oc * oh * ow;
        float acc = 0.0f;
        for (int ky = 0; ky < kh; ky++) {
            int ty = iy + py - ky;
            if (ty < 0 || ty % sy != 0 || ty / sy >= oh) {
                continue;
            }
            int oy = ty / sy;
            for (int kx = 0; kx < kw; kx++) {
                int tx = ix + px - kx;
                if (tx < 0 || tx % sx != 0 || tx / sx >= ow) {
                    continue;
                }
                int ox = tx / sx;
                for (int o = 0; o < oc; o++) {
                    float d = gr[((long long)o * oh + oy) * ow + ox];
                    if (d != 0.0f) {
                        acc += d * (gain * w[(((long long)o * ic + c) * kh + ky) * kw + kx]);
                    }
                }
            }
        }
        gi[i] = acc;
    }
}

// a[r, c, oy, ox] = sum over the window's cells inside the image of x * weight,
// in increasing input index (the reference pads H % size cells at the far end;
// they are zero). Windows are size x size with stride size.
KERNEL void pool_forward(const float* RESTRICT x, float* RESTRICT a, int rows, int ch, int ih,
                         int iw, int oh, int ow, int size, float weight) {
    long long total = (long long)rows * ch * oh * ow;
    for (long long i = global_x(); i < total; i += grid_stride()) {
        int ox = (int)(i % ow);
        long long t = i / ow;
        int oy = (int)(t % oh);
        long long rc = t / oh;
        const float* xc = x + rc * ih * iw;
        float acc = 0.0f;
        for (int dy = 0; dy < size; dy++) {
            int iy = oy * size + dy;
            if (iy >= ih) {
                break;
            }
            for (int dx = 0; dx < size; dx++) {
                int ix = ox * size + dx;
                if (ix >= iw) {
                    break;
                }
                float v = xc[(long long)iy * iw + ix];
                if (v != 0.0f) {
                    acc += v * weight;
                }
            }
        }
        a[i] = acc;
    }
}

// gi[r, c, iy, ix] = v g[r, c, iy / size, ix / size] (v = gain * weight),
// zero for cells that reach no output.
KERNEL void pool_input_grad(const float* RESTRICT g, float* RESTRICT gi, int rows, int ch, int ih,
                            int iw, int oh, int ow, int size, float v) {
    long long total = (long long)rows * ch * ih * iw;
    for (long long i = global_x(); i < total; i += grid_stride()) {
        int ix = (int)(i % iw);
        long long t = i / iw;
        int iy = (int)(t % ih);
        long long rc = t / ih;
        int oy = iy / size, ox = ix / size;
        gi[i] = (oy < oh && ox < ow) ? v * g[(rc * oh + oy) * ow + ox] : 0.0f;
    }
}
