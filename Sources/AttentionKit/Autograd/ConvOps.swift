// 2-D convolution by im2col + GEMM, image by image on per-thread column buffers, and 2-D max/average pooling, with backward passes.
// Dimension key: B batch, C in channels, O out channels, H×W input, Ho×Wo output, K = C·kh·kw.

/// Geometry of a 2-D sliding window.
struct Window2D {
    let kh: Int, kw: Int, sh: Int, sw: Int, ph: Int, pw: Int, dh: Int, dw: Int
    func outSize(_ h: Int, _ w: Int) -> (Int, Int) {
        ((h + 2 * ph - dh * (kh - 1) - 1) / sh + 1, (w + 2 * pw - dw * (kw - 1) - 1) / sw + 1)
    }
}

/// The output columns ow whose input column ow·sw + x0 lies inside [0, w): no bounds test in the inner loops.
@inline(__always)
private func validColumns(x0: Int, sw: Int, w: Int, wo: Int) -> Range<Int> {
    let lo = x0 >= 0 ? 0 : (-x0 + sw - 1) / sw
    let hi = w - x0 <= 0 ? 0 : Swift.min(wo, (w - x0 + sw - 1) / sw)
    return lo < hi ? lo..<hi : 0..<0
}

/// im2col for the whole batch: col[K, B·Ho·Wo] (column index = b·Ho·Wo + oh·Wo + ow); zero outside the image.
@inline(__always)
func im2col<T: TensorScalar>(
    _ x: UnsafePointer<T>, _ col: UnsafeMutablePointer<T>, b: Int, c: Int, h: Int, w: Int,
    ho: Int, wo: Int, _ win: Window2D
) {
    let cols = b * ho * wo
    parallelFor(c * win.kh * win.kw, costPerItem: cols) { rows in
        for r in rows {
            let ci = r / (win.kh * win.kw), i = r / win.kw % win.kh, j = r % win.kw
            let row = col + r * cols
            let x0 = j * win.dw - win.pw
            let valid = validColumns(x0: x0, sw: win.sw, w: w, wo: wo)
            for bi in 0..<b {
                let img = x + (bi * c + ci) * h * w
                let dst = row + bi * ho * wo
                for oh in 0..<ho {
                    let y = oh * win.sh - win.ph + i * win.dh
                    let line = dst + oh * wo
                    if y < 0 || y >= h || valid.isEmpty { line.update(repeating: 0, count: wo); continue }
                    let src = img + y * w + x0
                    if valid.lowerBound > 0 { line.update(repeating: 0, count: valid.lowerBound) }
                    if valid.upperBound < wo {
                        (line + valid.upperBound).update(repeating: 0, count: wo - valid.upperBound)
                    }
                    if win.sw == 1 {
                        (line + valid.lowerBound).update(from: src + valid.lowerBound, count: valid.count)
                    } else {
                        for ow in valid { line[ow] = src[ow * win.sw] }
                    }
                }
            }
        }
    }
}

/// col2im: the adjoint of im2col, accumulating col[K, B·Ho·Wo] into dx[B, C, H, W] (which must start at zero).
@inline(__always)
func col2im<T: TensorScalar>(
    _ col: UnsafePointer<T>, _ dx: UnsafeMutablePointer<T>, b: Int, c: Int, h: Int, w: Int,
    ho: Int, wo: Int, _ win: Window2D
) {
    let cols = b * ho * wo
    // each channel's planes are written by one thread only
    parallelFor(c, costPerItem: win.kh * win.kw * cols) { channels in
        for ci in channels {
            for i in 0..<win.kh {
                for j in 0..<win.kw {
                    let row = col + ((ci * win.kh + i) * win.kw + j) * cols
                    let x0 = j * win.dw - win.pw
                    let valid = validColumns(x0: x0, sw: win.sw, w: w, wo: wo)
                    if valid.isEmpty { continue }
                    for bi in 0..<b {
                        let img = dx + (bi * c + ci) * h * w
                        let src = row + bi * ho * wo
                        for oh in 0..<ho {
                            let y = oh * win.sh - win.ph + i * win.dh
                            if y < 0 || y >= h { continue }
                            let line = src + oh * wo, dst = img + y * w + x0
                            if win.sw == 1 {
                                for ow in valid { dst[ow] += line[ow] }
                            } else {
                                for ow in valid { dst[ow * win.sw] += line[ow] }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// 2-D convolution (cross-correlation, as PyTorch): x [B, C, H, W], weight [O, C, kh, kw], bias [O] → [B, O, Ho, Wo].
/// Image by image, as Caffe and PyTorch's CPU path: col_b[K, Ho·Wo] = im2col(x_b), Y_b[O, Ho·Wo] = W[O, K]·col_b,
/// written straight into the NCHW output. The batch is split into one contiguous run of images per thread, each
/// with its own column buffer, so the columns stay in cache (one K × Ho·Wo buffer per thread instead of the
/// whole batch's K × B·Ho·Wo, which for ResNet's first stage is 75 MB at batch 128). A 1×1 stride-1 convolution
/// without padding uses the image itself as its columns.
/// Backward, recomputing each image's columns: ∂W = Σ_b ∂Y_b·col_bᵀ (per-thread partial sums, then added),
/// ∂col_b = Wᵀ·∂Y_b then col2im into ∂x_b, ∂b = Σ ∂Y.
public func conv2d(
    _ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1),
    padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1)
) -> Tensor {
    guard x.rank == 4, weight.rank == 4, x.shape[1] == weight.shape[1] else {
        shapeFailure(
            ShapeError(
                "conv2d: input \(fmt(x.shape)) and weight \(fmt(weight.shape)) are incompatible (expected [B, C, H, W] and [O, C, kh, kw])"
            ))
    }
    let (b, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (o, kh, kw) = (weight.shape[0], weight.shape[2], weight.shape[3])
    let win = Window2D(
        kh: kh, kw: kw, sh: stride.0, sw: stride.1, ph: padding.0, pw: padding.1, dh: dilation.0, dw: dilation.1)
    precondition(
        stride.0 > 0 && stride.1 > 0 && dilation.0 > 0 && dilation.1 > 0 && padding.0 >= 0 && padding.1 >= 0,
        "conv2d: stride and dilation must be positive and padding non-negative")
    let (ho, wo) = win.outSize(h, w)
    guard ho > 0 && wo > 0 else {
        shapeFailure(
            ShapeError(
                "conv2d: input \(fmt(x.shape)) is too small for kernel \(fmt([kh, kw])) with padding \(padding) and dilation \(dilation)"
            ))
    }
    if let bias { checked { () throws(ShapeError) in try Shape.same(bias.shape, [o], op: "conv2d bias") } }
    let k = c * kh * kw, hw = ho * wo
    let pointwise = kh == 1 && kw == 1 && stride == (1, 1) && padding == (0, 0)  // columns = the image
    // contiguous runs of images, one per thread (a single image runs alone and lets its GEMM use the threads)
    let runs = Swift.max(1, Swift.min(b, Parallel.threads))
    func images(_ r: Int) -> Range<Int> { (b * r / runs)..<(b * (r + 1) / runs) }
    let cost = Swift.max(1, o * k * hw * (b / runs))
    let out = Tensor(shape: [b, o, ho, wo], dtype: x.dtype, zeroed: false)
    func forward<T: GemmScalar>(_: T.Type) {
        let px = x.storage.pointer(T.self), pw = weight.storage.pointer(T.self), py = out.storage.pointer(T.self)
        let pb = bias?.storage.pointer(T.self)
        parallelFor(runs, costPerItem: cost) { rs in
            let col = pointwise ? nil : TensorStorage(count: k * hw, dtype: x.dtype, zeroed: false)
            for r in rs {
                for bi in images(r) {
                    let src = px + bi * c * h * w, y = py + bi * o * hw
                    var cols = UnsafePointer(src)
                    if let col {
                        im2col(src, col.pointer(T.self), b: 1, c: c, h: h, w: w, ho: ho, wo: wo, win)
                        cols = UnsafePointer(col.pointer(T.self))
                    }
                    // C starts as the bias and the GEMM accumulates into it (beta = 1): no separate bias pass
                    if let pb { for oi in 0..<o { (y + oi * hw).update(repeating: pb[oi], count: hw) } }
                    T.gemm(
                        transA: false, transB: false, m: o, n: hw, k: k, a: pw, lda: k, b: cols, ldb: hw,
                        beta: pb == nil ? 0 : 1, c: y, ldc: hw)
                }
            }
        }
    }
    switch x.dtype {
    case .float32: forward(Float.self)
    case .float64: forward(Double.self)
    }
    var inputs = [x, weight]
    if let bias { inputs.append(bias) }
    return record("conv2d", out, inputs) { g in
        var dx: Tensor? = nil, dw: Tensor? = nil, db: Tensor? = nil
        func backward<T: GemmScalar>(_: T.Type) {
            let px = x.storage.pointer(T.self), pw = weight.storage.pointer(T.self), pg = g.storage.pointer(T.self)
            let needW = weight.requiresGrad, needX = x.requiresGrad
            // one ∂W partial per run of images, summed afterwards (runs write only their own partial)
            let partials = needW ? TensorStorage(count: runs * o * k, dtype: x.dtype, zeroed: false) : nil
            let dxT = needX ? Tensor.zeros(x.shape, dtype: x.dtype) : nil
            if needW || needX {
                parallelFor(runs, costPerItem: 2 * cost) { rs in
                    let col = pointwise || !needW ? nil : TensorStorage(count: k * hw, dtype: x.dtype, zeroed: false)
                    let dcol = pointwise || !needX ? nil : TensorStorage(count: k * hw, dtype: x.dtype, zeroed: false)
                    for r in rs {
                        var first = true
                        for bi in images(r) {
                            let src = px + bi * c * h * w, dy = UnsafePointer(pg + bi * o * hw)
                            if let partials {
                                var cols = UnsafePointer(src)
                                if let col {
                                    im2col(src, col.pointer(T.self), b: 1, c: c, h: h, w: w, ho: ho, wo: wo, win)
                                    cols = UnsafePointer(col.pointer(T.self))
                                }
                                T.gemm(
                                    transA: false, transB: true, m: o, n: k, k: hw, a: dy, lda: hw, b: cols, ldb: hw,
                                    beta: first ? 0 : 1, c: partials.pointer(T.self) + r * o * k, ldc: k)
                                first = false
                            }
                            if let dxT {
                                let dst = dxT.storage.pointer(T.self) + bi * c * h * w
                                if let dcol {
                                    T.gemm(
                                        transA: true, transB: false, m: k, n: hw, k: o, a: pw, lda: k, b: dy, ldb: hw,
                                        beta: 0, c: dcol.pointer(T.self), ldc: hw)
                                    col2im(dcol.pointer(T.self), dst, b: 1, c: c, h: h, w: w, ho: ho, wo: wo, win)
                                } else {
                                    T.gemm(
                                        transA: true, transB: false, m: k, n: hw, k: o, a: pw, lda: k, b: dy, ldb: hw,
                                        beta: 0, c: dst, ldc: hw)
                                }
                            }
                        }
                    }
                }
            }
            if let partials {
                let d = Tensor(shape: weight.shape, dtype: x.dtype, zeroed: false)
                let pd = d.storage.pointer(T.self), pp = partials.pointer(T.self)
                pd.update(from: pp, count: o * k)
                for r in 1..<runs { let part = pp + r * o * k; for i in 0..<(o * k) { pd[i] += part[i] } }
                dw = d
            }
            dx = dxT
            if let bias, bias.requiresGrad {
                let d = Tensor.zeros([o], dtype: x.dtype)
                let pd = d.storage.pointer(T.self)
                // each output channel's sum over images and positions on one thread (vectorised row sums)
                parallelFor(o, costPerItem: b * hw) { channels in
                    for oi in channels {
                        var s: T = 0
                        for bi in 0..<b { s += vectorSum(pg + (bi * o + oi) * hw, hw) }
                        pd[oi] = s
                    }
                }
                db = d
            }
        }
        switch x.dtype {
        case .float32: backward(Float.self)
        case .float64: backward(Double.self)
        }
        return bias == nil ? [dx, dw] : [dx, dw, db]
    }
}

/// 2-D max pooling over x [B, C, H, W] (padding counts as −∞, as PyTorch). Backward: the gradient goes to the
/// position that held the maximum (the first one on ties).
public func maxPool2d(
    _ x: Tensor, kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0),
    dilation: (Int, Int) = (1, 1)
) -> Tensor {
    guard x.rank == 4 else { shapeFailure(ShapeError("maxPool2d: input \(fmt(x.shape)) is not [B, C, H, W]")) }
    let st = stride ?? kernel
    let win = Window2D(
        kh: kernel.0, kw: kernel.1, sh: st.0, sw: st.1, ph: padding.0, pw: padding.1, dh: dilation.0, dw: dilation.1)
    precondition(
        padding.0 * 2 <= kernel.0 && padding.1 * 2 <= kernel.1,
        "maxPool2d: padding \(padding) must be at most half the kernel \(kernel)")
    let (b, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (ho, wo) = win.outSize(h, w)
    guard ho > 0 && wo > 0 else {
        shapeFailure(ShapeError("maxPool2d: input \(fmt(x.shape)) is too small for kernel \(kernel)"))
    }
    let out = Tensor(shape: [b, c, ho, wo], dtype: x.dtype, zeroed: false)
    // position of each maximum within its plane; in a pooled buffer (a fresh array would page-fault every step)
    let argmaxStorage = TensorStorage(count: b * c * ho * wo, dtype: .float32, zeroed: false)
    let argmaxPointer = argmaxStorage.raw.bindMemory(to: Int32.self, capacity: argmaxStorage.count)
    func forward<T: TensorScalar>(_: T.Type) {
        let px = x.storage.pointer(T.self), py = out.storage.pointer(T.self)
        do {
            let am = UnsafeMutableBufferPointer(start: argmaxPointer, count: argmaxStorage.count)
            if win.kh == 2 && win.kw == 2 && win.sh == 2 && win.sw == 2 && win.ph == 0 && win.pw == 0 && win.dh == 1
                && win.dw == 1
            {
                // fast path: 2×2 windows, stride 2, no padding (every window fully inside)
                parallelFor(b * c, costPerItem: h * w) { planes in
                    for plane in planes {
                        let img = px + plane * h * w
                        for oh in 0..<ho {
                            let r0 = img + 2 * oh * w, r1 = r0 + w
                            let base = (plane * ho + oh) * wo
                            let top = Int32(2 * oh * w), bottom = Int32((2 * oh + 1) * w)
                            for ow in 0..<wo {
                                // selects instead of branches (the comparisons are data-dependent coin flips); the first
                                // maximum in the order top-left, top-right, bottom-left, bottom-right wins, as before
                                let x0 = 2 * ow
                                let a = r0[x0], b = r0[x0 + 1], c = r1[x0], d = r1[x0 + 1]
                                let ab = b > a, cd = d > c
                                let m1 = ab ? b : a, m2 = cd ? d : c
                                let i1 = top + Int32(x0) + (ab ? 1 : 0), i2 = bottom + Int32(x0) + (cd ? 1 : 0)
                                let lower = m2 > m1
                                py[base + ow] = lower ? m2 : m1
                                am[base + ow] = lower ? i2 : i1
                            }
                        }
                    }
                }
                return
            }
            for plane in 0..<(b * c) {
                let img = px + plane * h * w
                for oh in 0..<ho {
                    for ow in 0..<wo {
                        var best = -T.infinity, at: Int32 = -1
                        for i in 0..<win.kh {
                            let y = oh * win.sh - win.ph + i * win.dh
                            if y < 0 || y >= h { continue }
                            for j in 0..<win.kw {
                                let xx = ow * win.sw - win.pw + j * win.dw
                                if xx < 0 || xx >= w { continue }
                                let v = img[y * w + xx]
                                if v > best || at < 0 || v.isNaN { best = v; at = Int32(y * w + xx) }
                            }
                        }
                        let o = (plane * ho + oh) * wo + ow
                        py[o] = best
                        am[o] = at
                    }
                }
            }
        }
    }
    switch x.dtype {
    case .float32: forward(Float.self)
    case .float64: forward(Double.self)
    }
    // 2×2 windows tiling the plane exactly: the backward writes every input position once (the gradient at the
    // window's maximum, zeros elsewhere), so dx needs no zero fill first
    let tiles =
        win.kh == 2 && win.kw == 2 && win.sh == 2 && win.sw == 2 && win.ph == 0 && win.pw == 0
        && win.dh == 1 && win.dw == 1 && h == 2 * ho && w == 2 * wo
    let xShape = x.shape, dtype = x.dtype
    return record("maxPool2d", out, [x]) { g in
        let dx = Tensor(shape: xShape, dtype: dtype, zeroed: !tiles)
        func backward<T: TensorScalar>(_: T.Type) {
            let pg = g.storage.pointer(T.self), pd = dx.storage.pointer(T.self)
            let per = ho * wo
            withExtendedLifetime(argmaxStorage) {
                let am = UnsafePointer(argmaxPointer)
                if tiles {
                    parallelFor(b * c, costPerItem: 4 * per) { planes in
                        for plane in planes {
                            let d = pd + plane * h * w
                            for oh in 0..<ho {
                                let r0 = d + 2 * oh * w, r1 = r0 + w
                                for ow in 0..<wo {
                                    let o = plane * per + oh * wo + ow, at = Int(am[o]), gv = pg[o]
                                    let i00 = 2 * oh * w + 2 * ow
                                    r0[2 * ow] = at == i00 ? gv : 0
                                    r0[2 * ow + 1] = at == i00 + 1 ? gv : 0
                                    r1[2 * ow] = at == i00 + w ? gv : 0
                                    r1[2 * ow + 1] = at == i00 + w + 1 ? gv : 0
                                }
                            }
                        }
                    }
                    return
                }
                parallelFor(b * c, costPerItem: per) { planes in
                    for plane in planes {
                        for k in 0..<per {
                            let o = plane * per + k
                            pd[plane * h * w + Int(am[o])] += pg[o]
                        }
                    }
                }
            }
        }
        switch dtype {
        case .float32: backward(Float.self)
        case .float64: backward(Double.self)
        }
        return [dx]
    }
}

/// 2-D average pooling over x [B, C, H, W]. Zero padding counts in the divisor (PyTorch's default
/// `count_include_pad=True`). Backward: each output's gradient spread evenly over its window.
public func avgPool2d(_ x: Tensor, kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0))
    -> Tensor
{
    guard x.rank == 4 else { shapeFailure(ShapeError("avgPool2d: input \(fmt(x.shape)) is not [B, C, H, W]")) }
    let st = stride ?? kernel
    let win = Window2D(kh: kernel.0, kw: kernel.1, sh: st.0, sw: st.1, ph: padding.0, pw: padding.1, dh: 1, dw: 1)
    let (b, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (ho, wo) = win.outSize(h, w)
    guard ho > 0 && wo > 0 else {
        shapeFailure(ShapeError("avgPool2d: input \(fmt(x.shape)) is too small for kernel \(kernel)"))
    }
    // As a convolution of each plane with a constant kernel: reuse im2col on [B·C, 1, H, W].
    let planes = x.reshape([b * c, 1, h, w])
    let kernelT = Tensor.full([1, 1, kernel.0, kernel.1], 1 / Float(kernel.0 * kernel.1), dtype: x.dtype)
    return conv2d(planes, weight: kernelT, stride: st, padding: padding).reshape([b, c, ho, wo])
}
