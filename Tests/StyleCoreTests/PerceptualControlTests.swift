import Foundation
import Imaging
import StyleCore
import Testing
import Tiling

/// Perceptual control (Gatys et al. 2017): guided Grams, region masks, colour matching and scale control.
@Suite struct PerceptualControlTests {
    /// Soft, overlapping guides: region 0 fades left to right, region 1 the other way, region 2 a blob.
    static func guides(width w: Int, height h: Int) -> PlanarImage {
        var p = [Float](repeating: 0, count: 3 * w * h)
        for y in 0 ..< h {
            for x in 0 ..< w {
                let u = Float(x) / Float(w - 1), i = y * w + x
                p[i] = 1 - u
                p[w * h + i] = u
                p[2 * w * h + i] = y > h / 2 && x < w / 2 ? 0.8 : 0
            }
        }
        return PlanarImage(width: w, height: h, channels: 3, pixels: p)
    }

    @Test func guidedStyleLossGradientMatchesFiniteDifferences() {
        let network = NetworkGradientTests.syntheticNetwork(pooling: .max)
        let (w, h) = (18, 16)
        let content = CaffeImage(width: w, height: h, pixels: GradientCheck.random(3 * w * h, seed: 21))
        var config = LossConfig()
        config.styleLayers = [("relu1_1", 1), ("relu1_2", 1), ("relu2_1", 2), ("relu3_1", 1), ("relu4_1", 1)]
        config.contentWeight = 1
        config.styleWeight = 5
        config.tvWeight = 0.1
        let layers = config.styleLayers.map(\.name)
        let a = GramTargets.compute(
            network: network, image: CaffeImage(width: 20, height: 20, pixels: GradientCheck.random(1200, seed: 22)),
            layers: layers)
        var b = GramTargets.compute(
            network: network, image: CaffeImage(width: 20, height: 20, pixels: GradientCheck.random(1200, seed: 23)),
            layers: layers)
        b.grams["relu4_1"] = nil  // scale control: a region's target may lack a layer
        let guidance = StyleGuidance(masks: Self.guides(width: w, height: h), regions: [(a, 1), (b, 0.5), (a, 2)])
        let objective = GatysObjective(
            network: network, config: config, content: content, targets: a, guidance: guidance)
        let x = GradientCheck.random(3 * w * h, seed: 24)
        var g = [Float](repeating: 0, count: x.count)
        let breakdown = x.withPointers(&g) { objective.evaluate($0, gradient: $1) }
        #expect(breakdown.style > 0 && breakdown.styleLayers.count == 5)
        let err = GradientCheck.relativeError(x: x, analytic: g, h: 1e-3, samples: 60) { v in
            v.withUnsafeBufferPointer { objective.evaluate($0.baseAddress!, gradient: nil).total }
        }
        #expect(err < 2e-2, "relative error \(err)")
    }

    /// One region covering everything is the unguided loss; two that partition the image cost at least as much.
    @Test func aWholeImageRegionIsTheUnguidedLoss() {
        let network = NetworkGradientTests.syntheticNetwork(pooling: .max)
        let (w, h) = (16, 16)
        let content = CaffeImage(width: w, height: h, pixels: GradientCheck.random(3 * w * h, seed: 31))
        var config = LossConfig()
        config.styleWeight = 3
        let targets = GramTargets.compute(
            network: network, image: CaffeImage(width: 16, height: 16, pixels: GradientCheck.random(768, seed: 32)),
            layers: config.styleLayers.map(\.name))
        let x = GradientCheck.random(3 * w * h, seed: 33)
        func loss(_ guidance: StyleGuidance?) -> (Double, [Float]) {
            let objective = GatysObjective(
                network: network, config: config, content: content, targets: targets, guidance: guidance)
            var g = [Float](repeating: 0, count: x.count)
            let l = x.withPointers(&g) { objective.evaluate($0, gradient: $1) }
            return (l.total, g)
        }
        let (plain, plainGradient) = loss(nil)
        let one = loss(
            StyleGuidance(masks: PlanarImage(width: w, height: h, channels: 1, fill: 1), regions: [(targets, 1)]))
        var halves = [Float](repeating: 0, count: 2 * w * h)
        // halves of 16: every pooled level splits cleanly
        for i in 0 ..< w * h { halves[(i % w < w / 2 ? 0 : 1) * w * h + i] = 1 }
        let two = loss(
            StyleGuidance(
                masks: PlanarImage(width: w, height: h, channels: 2, pixels: halves),
                regions: [(targets, 1), (targets, 1)]))
        #expect(
            abs(one.0 - plain) <= 1e-5 * plain
                && zip(one.1, plainGradient).allSatisfy { abs($0 - $1) <= 1e-4 * (abs($1) + 1e-3) })
        // Two halves with one target: the whole's Gram is the coverage-weighted mean of the halves' (their coverages
        // sum to one at every layer), so by convexity Σ (S_r/N) ‖G_r − A‖² ≥ ‖G − A‖²: asking each half to match on
        // its own is at least as demanding as the whole, never less.
        #expect(two.0 >= plain * (1 - 1e-5) && two.0 < 10 * plain, "halves \(two.0), whole \(plain)")
    }

    @Test func colourMatchingMovesTheStylesMeanAndCovarianceToTheContents() throws {
        let content = try ImageIO.read(TiledRenderTests.demo.appendingPathComponent("chelsea.png")).image
        let style = try ImageIO.read(TiledRenderTests.demo.appendingPathComponent("hokusai_great_wave.jpg")).image
        let matched = ColorTransfer.matchColors(style, to: content)
        let (mc, cc) = ColorTransfer.statistics(content), (ms, cs) = ColorTransfer.statistics(style),
            (mm, cm) = ColorTransfer.statistics(matched)
        let before = zip(ms, mc).map { abs($0 - $1) }.max()!, after = zip(mm, mc).map { abs($0 - $1) }.max()!
        let covBefore = zip(cs, cc).map { abs($0 - $1) }.max()!, covAfter = zip(cm, cc).map { abs($0 - $1) }.max()!
        print(
            String(
                format: "colour match: mean error %.4f → %.6f, covariance error %.5f → %.7f", before, after, covBefore,
                covAfter))
        #expect(before > 0.05 && after < 1e-4, "means \(ms) → \(mm), content \(mc)")
        #expect(covBefore > 0.005 && covAfter < 1e-5, "covariances \(cs) → \(cm), content \(cc)")
    }

    @Test func regionMasksNameTheirColoursAndRefuseUnknownOnes() throws {
        let regions = [
            StyleControl.Region(color: [255, 0, 0], styles: [0]), StyleControl.Region(color: [0], styles: [])
        ]
        var rgb = PlanarImage(width: 4, height: 1, channels: 3, fill: 0)
        rgb[0, 0, 0] = 1; rgb[0, 0, 1] = 0.9  // red, and near red (a JPEG's red)
        let planes = try RegionMap.planes(rgb, regions: regions)
        #expect(planes.channels == 2 && planes.pixels == [1, 1, 0, 0, 0, 0, 1, 1])
        rgb[1, 0, 3] = 1  // green: no region
        #expect(throws: RegionMapError.self) { try RegionMap.planes(rgb, regions: regions) }
        do { _ = try RegionMap.planes(rgb, regions: regions) } catch {
            #expect("\(error)".contains("(3, 0)") && "\(error)".contains("[0, 255, 0]"))
        }
    }

    /// Masks cropped per tile are the untiled masks' crops, to the bit: the softening reads each tile's rectangle
    /// widened by its support, in exact fixed-point sums.
    @Test func tileGuidesEqualTheUntiledGuidesCropped() throws {
        var labels = PlanarImage(width: 40, height: 30, channels: 1, fill: 0)
        for y in 0 ..< 30 { for x in 0 ..< 40 where x + y > 35 { labels[0, y, x] = 1 } }
        let planes = try RegionMap.planes(
            labels, regions: [.init(color: [0], styles: [0]), .init(color: [255], styles: [])])
        let guides = RegionMap.guides(planes, width: 320, height: 240, feather: 0.05)
        let whole = try guides.whole()
        #expect(whole.pixels.contains { $0 > 0.1 && $0 < 0.9 }, "edges are soft")
        for c in 0 ..< whole.planeSize { #expect(abs(whole.pixels[c] + whole.pixels[whole.planeSize + c] - 1) < 1e-3) }
        let plan = TilePlan(width: 320, height: 240, tileSize: 96, overlap: 16, margin: 8)
        for tile in plan.tiles {
            let r = tile.render
            #expect(
                try guides.region(x: r.x, y: r.y, width: r.width, height: r.height)
                    == whole.cropped(x: r.x, y: r.y, width: r.width, height: r.height))
        }
    }

    /// The tiles' coverage-weighted mean of each region's guided Grams (`GramTargets.tileMeans`, the reference that
    /// localises region targets per tile): one region covering everything is the unguided `tileMean` (1e-5), and two
    /// regions' means stray from the whole image's guided Grams no further than tiling alone makes the unguided mean
    /// stray from the whole's (zero padding at tile edges), within 0.05 of the Gram's size.
    @Test func tilesSeeEachRegionsGuidedGramsAsTheWholeImageDoes() throws {
        let network = PyTorchReferenceTests.network
        let content = try ImageIO.read(TiledRenderTests.demo.appendingPathComponent("chelsea.png")).image
        let image = Resampler.resize(content, width: 192, height: 128)
        let layers = ["relu1_1", "relu2_1", "relu3_1"]
        let plan = TilePlan(width: 192, height: 128, tileSize: 80, overlap: 16, margin: 16)
        func relative(_ a: [Float]?, _ b: [Float]?) throws -> Double {
            let a = try #require(a), b = try #require(b)
            return zip(a, b).map { Double(abs($0 - $1)) }.reduce(0, +) / a.map { Double(abs($0)) }.reduce(0, +)
        }
        let plainWhole = GramTargets.compute(network: network, image: CaffeImage(image), layers: layers)
        let plainTiles = try GramTargets.tileMean(network: network, canvas: image, plan: plan, layers: layers)
        let everything = try GramTargets.tileMeans(
            network: network, canvas: image, guides: PlanarImage(width: 192, height: 128, channels: 1, fill: 1),
            plan: plan, layers: layers)
        for name in layers {
            #expect(try relative(plainTiles.grams[name], everything[0]?.grams[name]) < 1e-5, "\(name)")
        }

        var labels = PlanarImage(width: 192, height: 128, channels: 1, fill: 0)
        for y in 0 ..< 128 { for x in 100 ..< 192 { labels[0, y, x] = 1 } }
        let planes = try RegionMap.planes(
            labels, regions: [.init(color: [0], styles: [0]), .init(color: [255], styles: [0])])
        let guides = RegionMap.guides(planes, width: 192, height: 128, feather: 0.02)
        let whole = GramTargets.guided(
            network: network, image: CaffeImage(image), layers: layers, masks: try guides.whole())
        let tiled = try GramTargets.tileMeans(
            network: network, canvas: image, guides: guides, plan: plan, layers: layers)
        for name in layers {
            let tiling = try relative(plainWhole.grams[name], plainTiles.grams[name])
            for region in 0 ..< 2 {
                let d = try relative(whole[region]?.grams[name], tiled[region]?.grams[name])
                print(String(format: "%@ region %d: tiled/whole %.3f (unguided %.3f)", name, region, d, tiling))
                #expect(d < tiling + 0.05, "region \(region) \(name): \(d) against \(tiling) unguided")
            }
        }
    }

    /// On the real network, small: the left half in one painting's style, the right half in the other's; each half's
    /// guided Grams end nearer its own style's than the other's.
    @Test func eachRegionTakesItsOwnStyle() throws {
        let network = PyTorchReferenceTests.network
        let content = try ImageIO.read(TiledRenderTests.demo.appendingPathComponent("chelsea.png")).image
        let wave = try ImageIO.read(TiledRenderTests.demo.appendingPathComponent("hokusai_great_wave.jpg")).image
        let turner = try ImageIO.read(
            TiledRenderTests.demo.appendingPathComponent("turner_shipwreck_of_the_minotaur.jpg")
        ).image
        var labels = PlanarImage(width: 96, height: 64, channels: 3, fill: 0)
        for y in 0 ..< 64 { for x in 48 ..< 96 { labels[2, y, x] = 1 } }  // left black, right blue
        var control = StyleControl()
        control.regions = [.init(color: [0, 0, 0], styles: [0]), .init(color: [0, 0, 255], styles: [1])]
        var job = StyleJob(content: content, styles: [(wave, 1), (turner, 1)], size: 96)
        job.exactSize = (96, 64)
        job.options = .recommended
        job.options.iterations = 60
        job.control = control
        job.controlImages = ControlImages(regions: try RegionMap.planes(labels, regions: control.regions))
        let result = job.render(network: network).image
        let layers = ["relu1_1", "relu2_1", "relu3_1", "relu4_1"]
        let targets = try #require(
            control.regionTargets(
                network: network, styles: job.styles, images: job.controlImages, content: content,
                longSide: 96, layers: layers))
        let halves = RegionMap.guides(try #require(job.controlImages.regions), width: 96, height: 64, feather: 0)
        let grams = GramTargets.guided(
            network: network, image: CaffeImage(result), layers: layers, masks: try halves.whole())
        func distance(_ g: GramTargets?, _ t: GramTargets?) -> Double {
            layers.reduce(0.0) { sum, name in
                guard let a = g?.grams[name], let b = t?.grams[name] else { return sum }
                return sum + zip(a, b).map { Double(($0 - $1) * ($0 - $1)) }.reduce(0, +) / Double(a.count)
            }
        }
        for (own, other) in [(0, 1), (1, 0)] {
            let near = distance(grams[own], targets.regions[own]), far = distance(grams[own], targets.regions[other])
            print(String(format: "region %d: distance to its own style %.4g, to the other %.4g", own, near, far))
            #expect(near < 0.8 * far, "region \(own): own \(near), other \(far)")
        }
    }

    @Test func scaleControlTakesEachLayerFromItsStyle() {
        let network = NetworkGradientTests.syntheticNetwork(pooling: .max)
        let a = PlanarImage(
            width: 24, height: 24, channels: 3, pixels: GradientCheck.random(3 * 576, seed: 41).map { abs($0) })
        let b = PlanarImage(
            width: 24, height: 24, channels: 3, pixels: GradientCheck.random(3 * 576, seed: 42).map { abs($0) })
        let layers = ["relu1_1", "relu2_1", "relu3_1"]
        let fine = StyleInput(image: a, weight: 1, options: .init(layers: ["relu1_1", "relu2_1"]))
        let coarse = StyleInput(image: b, weight: 1, options: .init(scale: 0.5, layers: ["relu3_1"]))
        let mixed = GramTargets.compute(network: network, styles: [fine, coarse], longSide: 48, layers: layers)
        let onlyA = GramTargets.compute(network: network, styles: [(a, 1)], longSide: 48, layers: layers)
        let onlyB = GramTargets.compute(network: network, styles: [(b, 1)], longSide: 24, layers: layers)
        #expect(mixed.layers == layers)
        #expect(mixed.grams["relu1_1"] == onlyA.grams["relu1_1"] && mixed.grams["relu2_1"] == onlyA.grams["relu2_1"])
        #expect(
            mixed.grams["relu3_1"] == onlyB.grams["relu3_1"], "the coarse layer from the other style at half its size")
    }

    /// `stylefarm plan` and the memory checks count the regions: their guides and Gram gradients.
    @Test func plansCountTheRegionsGuides() {
        let network = NetworkGradientTests.syntheticNetwork(pooling: .max)
        let plain = ResourceEstimate.peakBytes(network: network, width: 100, height: 80, lbfgsHistory: 5)
        let three = ResourceEstimate.peakBytes(network: network, width: 100, height: 80, lbfgsHistory: 5, regions: 3)
        #expect(
            three - plain == 4 * 3 * (100 * 80 * 7 / 3 + 8 * 8),
            "the crop and its pooled copies, and a C×C gradient, per region")
    }
}
