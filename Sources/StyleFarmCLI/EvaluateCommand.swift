import ArgumentParser
import Foundation
import Imaging
import StyleCore

/// `stylefarm evaluate`: the Gatys loss terms of a finished image, e.g. to compare a tiled render with
/// an untiled one.
struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Print the content, style and TV losses of an image against a content and style images.")

    @Argument(help: "The rendered image.") var image: String
    @Option(help: "Content image.") var content: String
    @Option(help: "Style image(s), comma-separated.") var style: String
    @Option(help: "Long side of the style images for the Gram targets (default: the image's long side).") var styleSize:
        Int?
    @Option(help: "Content loss weight.") var contentWeight: Float = LossConfig.recommended.contentWeight
    @Option(help: "Style loss weight.") var styleWeight: Float = LossConfig.recommended.styleWeight
    @Option(help: "Total-variation weight.") var tvWeight: Float = LossConfig.recommended.tvWeight
    @OptionGroup var compute: ComputeOptions

    func run() throws {
        let network = try compute.loadNetwork()
        let img = try ImageIO.read(URL(fileURLWithPath: image)).image
        var config = LossConfig()
        (config.contentWeight, config.styleWeight, config.tvWeight) = (contentWeight, styleWeight, tvWeight)
        let styles = try style.split(separator: ",").map { try ImageIO.read(URL(fileURLWithPath: String($0))).image }
        let loss = LossEvaluation.evaluate(
            network: network, image: img, content: try ImageIO.read(URL(fileURLWithPath: content)).image,
            styles: styles, config: config, styleSize: styleSize)
        print(
            String(
                format: "%@ %dx%d: total %.6g  content %.6g  style %.6g  tv %.6g", image, img.width, img.height,
                loss.total, loss.content, loss.style, loss.tv))
    }
}
