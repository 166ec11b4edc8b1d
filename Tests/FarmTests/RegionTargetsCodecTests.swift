import FarmProtocol
import StyleCore
import Testing

/// Region targets on the wire (`RegionTargetsCodec`): exact round trip, and every malformed blob refused, never
/// trusted.
@Suite struct RegionTargetsCodecTests {
    static let targets = RegionTargets(
        regions: [
            GramTargets(layers: ["relu1_1"], channels: ["relu1_1": 2], grams: ["relu1_1": [1, 2, 2, 5]]), nil,
            GramTargets(
                layers: ["relu1_1", "relu2_1"], channels: ["relu1_1": 1, "relu2_1": 1],
                grams: ["relu1_1": [0.5], "relu2_1": [-3]])
        ],
        weights: [1, 0.25, 2])

    @Test func roundTripsExactly() throws {
        let bytes = RegionTargetsCodec.encode(Self.targets)
        #expect(
            RegionTargetsCodec.isRegionTargets(bytes)
                && !RegionTargetsCodec.isRegionTargets(TargetsCodec.encode(Self.targets.regions[0]!)))
        #expect(try RegionTargetsCodec.decode(bytes) == Self.targets)
    }

    @Test func malformedBlobsAreRefused() throws {
        let good = RegionTargetsCodec.encode(Self.targets)
        var tooMany = good
        tooMany[4] = UInt8(RegionTargetsCodec.maxRegions + 1)
        var negative = good
        negative.replaceSubrange(8 ..< 12, with: withUnsafeBytes(of: Float(-1).bitPattern.littleEndian, Array.init))
        for bad in [Array(good.prefix(10)), good + [0], tooMany, negative, [0x53, 0x46, 0x52, 0x54]] {
            #expect(throws: ProtocolError.self) { try RegionTargetsCodec.decode(bad) }
        }
        // A blob whose truncation cuts a region's own targets.
        #expect(throws: ProtocolError.self) { try RegionTargetsCodec.decode(Array(good.dropLast(3))) }
    }

    /// A worker only renders targets that fit its network's layers (`GramTargets.fits`).
    @Test func targetsThatDoNotFitTheNetworkAreTold() {
        let network = VGG19(
            convs: VGG19.layerNames.prefix(2).enumerated().map { i, name in
                VGG19.Conv(
                    name: name, inChannels: i == 0 ? 3 : 2, outChannels: 2,
                    weights: Array(repeating: 0, count: 2 * (i == 0 ? 3 : 2) * 9),
                    bias: [0, 0])
            }, pooling: .max)
        #expect(Self.targets.regions[0]!.fits(network))
        #expect(!Self.targets.regions[2]!.fits(network), "relu1_1 with 1 channel, and relu2_1 is not in this network")
    }
}
