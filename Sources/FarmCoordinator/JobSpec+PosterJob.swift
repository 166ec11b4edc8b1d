import FarmProtocol
import Imaging
import StyleCore

// The mapping from the wire's job description to the compute core's job: FarmProtocol carries settings only.
extension JobSpec {
    /// The poster job for decoded images, in submit order (content, styles, then a frame's start image and
    /// mask), the content as decoded from its file.
    public func posterJob(images: [PlanarImage]) throws -> PosterJob {
        guard images.count == inputCount else {
            throw ProtocolError.malformedBody("a job of this spec has \(inputCount) images, not \(images.count)")
        }
        let fitted = crop ? CenterCrop.toAspect(images[0], width: poster.width, height: poster.height) : images[0]
        let styles = images[1 ... styleWeights.count]
        var job = PosterJob(
            content: fitted, styles: Array(zip(styles, styleWeights)).map { (image: $0.0, weight: $0.1) },
            width: poster.width, height: poster.height)
        job.settings = poster
        if let frame {
            let first = styleWeights.count + 1, (w, h) = (poster.width, poster.height)
            let start = TemporalTarget.fitted(images[first], width: w, height: h)
            job.initial = start
            if frame.temporalMask {
                job.temporal = TemporalTarget(
                    image: frame.carriesTemporalImage
                        ? TemporalTarget.fitted(images[first + 2], width: w, height: h) : start,
                    mask: TemporalTarget.binaryMask(images[first + 1], width: w, height: h))
            }
        }
        if let control = poster.control {
            var next = 1 + styleWeights.count + frameInputs
            if !control.regions.isEmpty {
                do {
                    let mask = try RegionMap.fitted(
                        images[next], contentWidth: images[0].width, contentHeight: images[0].height,
                        output: (poster.width, poster.height), crop: crop)
                    job.controlImages.regions = try RegionMap.planes(mask, regions: control.regions)
                } catch {
                    throw ProtocolError.malformedBody("the region mask \(error)")
                }
                next += 1
            }
            let masked = maskedStyles
            job.controlImages.styleMasks = styleWeights.indices.map { i in
                masked.firstIndex(of: i).map { images[next + $0] }
            }
        }
        return job
    }
}
