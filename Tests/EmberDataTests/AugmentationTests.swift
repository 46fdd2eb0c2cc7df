import Foundation
import Testing
@testable import EmberData

@Suite struct AugmentationTests {
    /// A 1x4x5 image with distinct pixel values 0..19.
    func ramp(channels: Int = 1, h: Int = 4, w: Int = 5) -> Tensor {
        Tensor((0..<(channels * h * w)).map { Float($0) }, shape: [channels, h, w])
    }

    @Test func cropWindowsComeFromThePaddedImage() {
        var rng = RandomState(seed: 1)
        let img = ramp()
        // Without padding and at full size, the crop is the identity.
        #expect(RandomCrop(height: 4, width: 5).apply(img, rng: &rng).scalars == img.scalars)
        // Every crop of a padded image is a shifted copy: check against the shift it must have used.
        for _ in 0..<20 {
            let out = RandomCrop(height: 4, width: 5, padding: 2, fill: -1).apply(img, rng: &rng).scalars
            var matched = false
            for dy in -2...2 { for dx in -2...2 {
                var ok = true
                for y in 0..<4 { for x in 0..<5 {
                    let sy = y + dy, sx = x + dx
                    let expect: Float = (sy >= 0 && sy < 4 && sx >= 0 && sx < 5) ? Float(sy * 5 + sx) : -1
                    if out[y * 5 + x] != expect { ok = false }
                } }
                if ok { matched = true }
            } }
            #expect(matched)
        }
    }

    @Test func flipsMirror() {
        var rng = RandomState(seed: 2)
        let img = ramp(channels: 2)
        let f = HorizontalFlip(p: 1).apply(img, rng: &rng)
        #expect(f[0, 0].scalars == [4, 3, 2, 1, 0])
        #expect(HorizontalFlip(p: 1).apply(f, rng: &rng).scalars == img.scalars)
        #expect(HorizontalFlip(p: 0).apply(img, rng: &rng).scalars == img.scalars)
        #expect(VerticalFlip(p: 1).apply(img, rng: &rng)[1, 0].scalars == img[1, 3].scalars)
    }

    @Test func affineGeometry() {
        // Identity parameters give the image back; a 90 degree turn of a square image is an exact rotation
        // (bilinear sampling lands on pixel centres).
        let sq = ramp(h: 5, w: 5)
        let src = Pixels(sq)
        #expect(RandomAffine.warp(src, angle: 0, scale: 1, tx: 0, ty: 0, fill: 0).scalars == sq.scalars)
        let r = RandomAffine.warp(src, angle: Double.pi / 2, scale: 1, tx: 0, ty: 0, fill: 0).scalars
        let v = sq.scalars
        var maxErr: Float = 0
        for y in 0..<5 { for x in 0..<5 {
            // out(y, x) = src(y', x') with (x'-2, y'-2) = R(-90°)(x-2, y-2) = (y-2, -(x-2))
            let sx = y, sy = 4 - x
            maxErr = max(maxErr, abs(r[y * 5 + x] - v[sy * 5 + sx]))
        } }
        #expect(maxErr < 1e-4)
        // A half-pixel translation averages neighbours.
        let t = RandomAffine.warp(src, angle: 0, scale: 1, tx: 0.5, ty: 0, fill: 0).scalars
        let avg: Float = (v[11] + v[12]) / 2
        #expect(abs(t[12] - avg) < 1e-5)
        var rng = RandomState(seed: 3)
        let rot = RandomRotation(15).apply(sq, rng: &rng)
        #expect(rot.shape == [1, 5, 5])
    }

    @Test func photometricRanges() {
        var rng = RandomState(seed: 4)
        let img = Tensor((0..<64).map { Float($0) / 63 }, shape: [1, 8, 8])
        for _ in 0..<10 {
            let j = ColorJitter(brightness: 0.4, contrast: 0.4).apply(img, rng: &rng).scalars
            #expect(j.allSatisfy { $0 >= 0 && $0 <= 1 })
        }
        let n = GaussianNoise(std: 0.1).apply(Tensor.zeros([1, 100, 100]), rng: &rng)
        let sd: Double = n.std().item()
        #expect(abs(sd - 0.1) < 0.005)
        let norm = Normalize(mean: [0.5, 1], std: [0.5, 2]).apply(Tensor.ones([2, 2, 2]), rng: &rng).scalars
        #expect(norm == [1, 1, 1, 1, 0, 0, 0, 0])
        let e = RandomErasing(p: 1, value: -7).apply(Tensor.ones([3, 16, 16]), rng: &rng).scalars
        let erased = e.filter { $0 == -7 }.count
        let maxArea: Int = 85 + 16  // 0.33 * 256 plus rounding of both sides
        #expect(erased > 0)
        #expect(erased % 3 == 0)
        #expect(erased / 3 <= maxArea)
    }

    @Test func mixupAndCutmix() {
        var rng = RandomState(seed: 5)
        let x = Tensor.normal([6, 1, 4, 4], rng: &rng)
        let y = Tensor([0, 1, 2, 0, 1, 2] as [Int64])
        let (mx, my, lam) = MixUp(alpha: 0.4, classes: 3).apply(x, y, rng: &rng)
        #expect(lam >= 0 && lam <= 1 && mx.shape == x.shape)
        for s in my.sum(axis: 1).scalars { #expect(abs(s - 1) < 1e-6) }
        let (cx, cy, clam) = CutMix(alpha: 1, classes: 3).apply(x, y, rng: &rng)
        #expect(cx.shape == x.shape && clam >= 0 && clam <= 1)
        for s in cy.sum(axis: 1).scalars { #expect(abs(s - 1) < 1e-6) }
        // Beta(2, 5) sample mean 2/7
        var r2 = RandomState(seed: 9)
        let draws = (0..<4000).map { _ in r2.nextBeta(2, 5) }
        let mean: Double = draws.reduce(0, +) / 4000
        let expected: Double = 2.0 / 7.0
        #expect(abs(mean - expected) < 0.01)
    }

    @Test func loaderAugmentationIsReproducibleAcrossWorkerCounts() {
        let images = ImageDataset(pixels: (0..<(40 * 64)).map { UInt8($0 % 251) }, labels: (0..<40).map { Int32($0 % 4) },
                                  imageShape: [1, 8, 8], classNames: ["a", "b", "c", "d"])
        let augment = Compose([RandomCrop(8, padding: 2), HorizontalFlip(), RandomErasing(p: 0.5)])
        func epoch(workers: Int) -> [[Float]] {
            let loader = DataLoader(images, batchSize: 8, shuffle: true, rng: RandomState(seed: 77), workers: workers,
                                    transform: augment.transform)
            return loader.epoch(1).map { $0.input.scalars }
        }
        let reference = epoch(workers: 0)
        let viaList = DataLoader(images, batchSize: 8, shuffle: true, rng: RandomState(seed: 77), workers: 2,
                                 augment: [RandomCrop(8, padding: 2), HorizontalFlip(), RandomErasing(p: 0.5)])
        #expect(viaList.epoch(1).map { $0.input.scalars } == reference)
        #expect(epoch(workers: 1) == reference)
        #expect(epoch(workers: 2) == reference)
        #expect(reference.count == 5)
    }
}
