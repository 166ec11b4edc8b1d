import FarmProtocol
import Foundation
import Imaging

// The journal's pixel files and its errors.

extension Journal {
    /// Raw pixels in the SFPX format (`DiskImage`): "SFPX", width, height, channels (UInt32 little-endian), then
    /// float32 little-endian.
    static func encode(_ image: PlanarImage) -> Data {
        var d = Data(DiskImage.header(width: image.width, height: image.height, channels: image.channels))
        image.pixels.withUnsafeBytes { d.append(contentsOf: $0) }
        return d
    }

    static func decode(_ data: Data) throws -> PlanarImage {
        let bytes = [UInt8](data)
        guard let shape = DiskImage.shape(header: bytes) else { throw JournalError.corrupt("not an SFPX file") }
        guard bytes.count == shape.byteCount else { throw JournalError.corrupt("SFPX size mismatch") }
        return try PixelCodec.decode(
            Array(bytes[DiskImage.headerBytes...]), width: shape.width, height: shape.height, channels: shape.channels)
    }
}

public enum JournalError: Error, CustomStringConvertible {
    case corrupt(String)
    /// The state directory cannot be taken: its path, and why.
    case locked(String, String)
    /// A job the coordinator died preparing `Journal.preparationDeaths` times or more.
    case diedPreparing(times: Int)
    public var description: String {
        switch self {
        case let .corrupt(why): "journal file is corrupt: \(why)"
        case let .diedPreparing(n):
            "the coordinator died \(n) times while preparing it (decoding its inputs, computing its "
                + "targets); failed so that it cannot stop the farm again"
        case let .locked(path, why): "state directory \(path): \(why)"
        }
    }
}

extension Journal.StoredJob {
    /// Why a stored job cannot run again as it is, or nil: a spec outside the limits, or a coordinator that died
    /// `Journal.preparationDeaths` times preparing it.
    public var problem: String? {
        do { try spec.validate() } catch { return "\(error)" }
        guard preparing < Journal.preparationDeaths || state.isFinal else {
            return "\(JournalError.diedPreparing(times: preparing))"
        }
        return nil
    }
}
