import RealModule

/// Small synthetic datasets for demos and smoke tests.
public enum ToyData {
    /// The classic spiral problem (cs231n): `classes` interleaved arms of `pointsPerClass` 2-D points each.
    ///
    /// Point j of class c: r = j/(n−1), θ = 4c + 4r + noise·N(0,1); x = (r sin θ, r cos θ).
    /// - Returns: inputs `[classes·pointsPerClass, 2]` and labels `[classes·pointsPerClass]` (class index as Float).
    public static func spiral(
        classes: Int = 3, pointsPerClass: Int = 100, noise: Float = 0.2,
        using generator: inout RandomGenerator
    ) -> (inputs: Tensor, labels: Tensor) {
        precondition(classes > 0 && pointsPerClass > 1, "spiral: need at least 1 class and 2 points per class")
        var xs: [Float] = [], ys: [Float] = []
        for c in 0..<classes {
            for j in 0..<pointsPerClass {
                let r = Double(j) / Double(pointsPerClass - 1)
                let theta = Double(c) * 4 + r * 4 + Double(noise) * generator.nextNormal()
                xs += [Float(r * Double.sin(theta)), Float(r * Double.cos(theta))]
                ys.append(Float(c))
            }
        }
        let n = classes * pointsPerClass
        return (Tensor(xs, shape: [n, 2]), Tensor(ys, shape: [n]))
    }
}
