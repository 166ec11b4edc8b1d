/// Centre-crops an image to a target aspect ratio (the print's), so nothing is stretched.
public enum CenterCrop {
    public static func toAspect(_ image: PlanarImage, width: Int, height: Int) -> PlanarImage {
        let target = Double(width) / Double(height), current = Double(image.width) / Double(image.height)
        if abs(target / current - 1) < 0.005 { return image }
        if current > target {
            let w = max(1, Int((Double(image.height) * target).rounded()))
            return image.cropped(x: (image.width - w) / 2, y: 0, width: w, height: image.height)
        }
        let h = max(1, Int((Double(image.width) / target).rounded()))
        return image.cropped(x: 0, y: (image.height - h) / 2, width: image.width, height: h)
    }
}
