import Foundation
import Testing
import EmberTestSupport
@testable import EmberData

@Suite struct BuiltinDatasetTests {
    static func classCounts(_ d: TensorDataset) -> [Int] {
        let l = d.labels
        return (0..<(l.max()! + 1)).map { c in l.filter { $0 == c }.count }
    }

    @Test func digits() throws {
        let d = try Datasets.digits()
        #expect(d.count == 1797)
        #expect(d.inputs.shape == [1797, 64] && d.inputs.dtype == .float32)
        #expect(d.targets.dtype == .int64)
        let x = d.inputs.scalars
        #expect(x.min() == 0 && x.max() == 16)
        #expect(x.allSatisfy { $0 == $0.rounded() })
        #expect(Set(d.labels) == Set(0..<10))
        #expect(Array(x.prefix(8)) == [0, 0, 5, 13, 9, 1, 0, 0])   // first row of sklearn's digits
        #expect(d.labels.prefix(3) == [0, 1, 2])
        #expect(d.featureNames.count == 64 && d.classNames.count == 10)
    }

    @Test func iris() throws {
        let d = try Datasets.iris()
        #expect(d.inputs.shape == [150, 4])
        #expect(Self.classCounts(d) == [50, 50, 50])
        #expect(d.classNames == ["setosa", "versicolor", "virginica"])
        #expect(d[0].input.scalars == [5.1, 3.5, 1.4, 0.2])
    }

    @Test func wine() throws {
        let d = try Datasets.wine()
        #expect(d.inputs.shape == [178, 13])
        #expect(Self.classCounts(d) == [59, 71, 48])
        #expect(d.featureNames.first == "alcohol" && d.featureNames.last == "proline")
        #expect(d[0].input.scalars.last == 1065)
    }

    @Test func byName() throws {
        #expect(try Datasets.load("iris").count == 150)
        #expect(try Datasets.load("Wine").count == 178)
        #expect(try Datasets.load("digits")[5].input.shape == [64])
    }

    /// The real Fashion-MNIST files from Debian's dataset-fashion-mnist package.
    @Test(needs(fashionMNISTPresent, Comment(rawValue: fashionMNISTMissing)))
    func fashionMNISTRealFiles() throws {
        try require(fashionMNISTPresent, fashionMNISTMissing)
        let train = try Datasets.fashionMNIST(.train)
        let test = try Datasets.fashionMNIST(.test)
        #expect(train.count == 60000 && test.count == 10000)
        #expect(train.imageShape == [1, 28, 28] && test.imageShape == [1, 28, 28])
        #expect(train.pixels.count == 60000 * 784)
        #expect(train.classCounts == [Int](repeating: 6000, count: 10))
        #expect(test.classCounts == [Int](repeating: 1000, count: 10))
        #expect(train.labels.prefix(6) == [9, 0, 0, 3, 0, 2])
        #expect(train.classNames[9] == "Ankle boot")
        let (x, y) = train[0]
        #expect(x.shape == [1, 28, 28] && y.item() == 9)
        let px = x.scalars
        #expect(px.min()! >= 0 && px.max()! <= 1 && px.max()! > 0.9)
        let batch = try #require(train.batch(at: [0, 1, 2]))
        #expect(batch.input.shape == [3, 1, 28, 28] && batch.target.toArray(Int64.self) == [9, 0, 0])
    }
}

let fashionMNISTPresent = FileManager.default.fileExists(atPath: Datasets.fashionMNISTDirectory + "/train-labels-idx1-ubyte.gz")
let fashionMNISTMissing = "\(Datasets.fashionMNISTDirectory) is missing: run `\(Datasets.fashionMNISTInstallCommand)` to check the real Fashion-MNIST files"
