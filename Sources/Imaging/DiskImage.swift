import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A planar float image in a file, read and written by rectangle, so an image far larger than memory (a gigapixel
/// canvas) can be built and read back strip by strip or tile by tile.
///
/// The file is the SFPX format the coordinator's journal uses for every canvas and tile: "SFPX", then width,
/// height and channels as UInt32 little-endian, then the samples as float32 little-endian in `PlanarImage` order
/// (every row of channel 0, then channel 1, ...). Reads and writes are `pread`/`pwrite`: nothing is mapped, so
/// the process's resident memory is only what the caller holds.
// unchecked: a thin wrapper of a file descriptor; pread/pwrite at explicit offsets are safe from any thread
public final class DiskImage: ImageRegionSource, @unchecked Sendable {
    public static let magic: [UInt8] = Array("SFPX".utf8)
    public static let headerBytes = 16

    public let url: URL
    public let width: Int
    public let height: Int
    public let channels: Int
    let fd: Int32

    /// Creates (or truncates) a file of `width` x `height` x `channels` zero samples.
    public static func create(at url: URL, width: Int, height: Int, channels: Int = 3) throws -> DiskImage {
        precondition(width > 0 && height > 0 && channels > 0, "invalid image shape \(width)x\(height)x\(channels)")
        let fd = open(url.path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw DiskImageError(url, "cannot create: \(Self.lastError())") }
        let image = DiskImage(url: url, fd: fd, width: width, height: height, channels: channels)
        try image.writeAll(header(width: width, height: height, channels: channels), at: 0)
        guard ftruncate(fd, off_t(headerBytes + 4 * width * height * channels)) == 0 else {
            throw DiskImageError(url, "cannot size to \(4 * width * height * channels) bytes: \(Self.lastError())")
        }
        return image
    }

    /// Opens an existing SFPX file for reading, checking its header against its size.
    public init(opening url: URL) throws {
        let fd = open(url.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw DiskImageError(url, "cannot open: \(Self.lastError())") }
        var header = [UInt8](repeating: 0, count: Self.headerBytes)
        var st = stat()
        let got = header.withUnsafeMutableBytes { pread(fd, $0.baseAddress, Self.headerBytes, 0) }
        guard got == Self.headerBytes, let shape = Self.shape(header: header), fstat(fd, &st) == 0 else {
            close(fd)
            throw DiskImageError(url, "not an SFPX file")
        }
        (width, height, channels) = (shape.width, shape.height, shape.channels)
        guard Int(st.st_size) == shape.byteCount else {
            close(fd)
            throw DiskImageError(url, "SFPX size mismatch: \(st.st_size) bytes for \(width)x\(height)x\(channels)")
        }
        self.url = url
        self.fd = fd
    }

    init(url: URL, fd: Int32, width: Int, height: Int, channels: Int) {
        (self.url, self.fd, self.width, self.height, self.channels) = (url, fd, width, height, channels)
    }

    deinit { close(fd) }

    /// The SFPX header of a `width` x `height` x `channels` image.
    public static func header(width: Int, height: Int, channels: Int) -> [UInt8] {
        var header = magic
        for v in [width, height, channels] { withUnsafeBytes(of: UInt32(v).littleEndian) { header += $0 } }
        return header
    }

    /// The shape an SFPX header (at least `headerBytes` bytes) gives, and the whole file's size in bytes; nil if
    /// the bytes are not an SFPX header of a non-empty image.
    public static func shape(header: some Collection<UInt8>) -> (
        width: Int, height: Int, channels: Int, byteCount: Int
    )? {
        let bytes = Array(header.prefix(headerBytes))
        guard bytes.count == headerBytes, Array(bytes.prefix(4)) == magic else { return nil }
        func u32(_ o: Int) -> Int {
            Int(bytes[o]) | Int(bytes[o + 1]) << 8 | Int(bytes[o + 2]) << 16 | Int(bytes[o + 3]) << 24
        }
        let (w, h, c) = (u32(4), u32(8), u32(12))
        guard w > 0, h > 0, c > 0 else { return nil }
        return (w, h, c, headerBytes + 4 * w * h * c)
    }

    func offset(_ c: Int, _ y: Int, _ x: Int) -> off_t { off_t(Self.headerBytes + 4 * ((c * height + y) * width + x)) }

    public func region(x: Int, y: Int, width w: Int, height h: Int) throws -> PlanarImage {
        precondition(
            x >= 0 && y >= 0 && w >= 0 && h >= 0 && x + w <= width && y + h <= height,
            "region \(w)x\(h)+\(x)+\(y) outside \(width)x\(height)")
        var pixels = [Float](repeating: 0, count: w * h * channels)
        try pixels.withUnsafeMutableBytes { out in
            for c in 0 ..< channels {
                if w == width {  // whole rows: one read per channel
                    try readAll(into: out.baseAddress! + 4 * c * w * h, count: 4 * w * h, at: offset(c, y, 0))
                    continue
                }
                for row in 0 ..< h {
                    try readAll(
                        into: out.baseAddress! + 4 * ((c * h + row) * w), count: 4 * w, at: offset(c, y + row, x))
                }
            }
        }
        return PlanarImage(width: w, height: h, channels: channels, pixels: pixels)
    }

    /// Writes `image` with its top-left corner at (`x`, `y`).
    public func write(_ image: PlanarImage, x: Int = 0, y: Int) throws {
        precondition(
            image.channels == channels && x >= 0 && y >= 0 && x + image.width <= width && y + image.height <= height,
            "\(image.width)x\(image.height) at +\(x)+\(y) outside \(width)x\(height)")
        try image.pixels.withUnsafeBytes { src in
            for c in 0 ..< channels {
                if image.width == width {
                    try writeAll(
                        UnsafeRawBufferPointer(
                            rebasing: src[4 * c * image.planeSize ..< 4 * (c + 1) * image.planeSize]),
                        at: offset(c, y, 0))
                    continue
                }
                for row in 0 ..< image.height {
                    let start = 4 * (c * image.planeSize + row * image.width)
                    try writeAll(
                        UnsafeRawBufferPointer(rebasing: src[start ..< start + 4 * image.width]),
                        at: offset(c, y + row, x))
                }
            }
        }
    }

    /// Flushes the file to disk.
    public func synchronize() throws {
        guard fsync(fd) == 0 else { throw DiskImageError(url, "fsync failed: \(Self.lastError())") }
    }

    func readAll(into buffer: UnsafeMutableRawPointer, count: Int, at offset: off_t) throws {
        var done = 0
        while done < count {
            let n = pread(fd, buffer + done, count - done, offset + off_t(done))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                throw DiskImageError(url, n == 0 ? "file ends early" : "read failed: \(Self.lastError())")
            }
            done += n
        }
    }

    func writeAll(_ bytes: [UInt8], at offset: off_t) throws {
        try bytes.withUnsafeBytes { try writeAll($0, at: offset) }
    }

    func writeAll(_ bytes: UnsafeRawBufferPointer, at offset: off_t) throws {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, offset + off_t(done))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw DiskImageError(url, "write failed: \(Self.lastError())") }
            done += n
        }
    }

    static func lastError() -> String { String(cString: strerror(errno)) }
}

/// A disk image could not be created, opened, read or written.
public struct DiskImageError: Error, CustomStringConvertible {
    public let description: String
    init(_ url: URL, _ why: String) { description = "\(url.path): \(why)" }
}
