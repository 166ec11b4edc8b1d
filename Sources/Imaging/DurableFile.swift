import Foundation

/// Files that are either complete or absent: written to a temporary file beside the destination, fsynced and
/// renamed into place. What the journal, a worker's weights cache and a fetched output use.
public enum DurableFile {
    /// Writes `data` to `url` durably.
    public static func write(_ data: Data, to url: URL) throws {
        try replace(url) { try data.write(to: $0) }
    }

    /// Copies `file` to `url` the same way (a file of any size: it is not read into memory).
    public static func copy(_ file: URL, to url: URL) throws {
        try replace(url) { tmp in
            try? FileManager.default.removeItem(at: tmp)
            try FileManager.default.copyItem(at: file, to: tmp)
        }
    }

    /// Runs `write` on a temporary path, fsyncs what it wrote and renames it to `url`.
    public static func replace(_ url: URL, write: (URL) throws -> Void) throws {
        // Unique per process: workers sharing a cache directory may write the same file at once.
        let tmp = url.appendingPathExtension("\(getpid()).tmp")
        try write(tmp)
        let handle = try FileHandle(forWritingTo: tmp)
        try handle.synchronize()
        try handle.close()
        try rename(tmp, to: url)
    }

    /// `rename(2)`, with errno as a Foundation error that names the destination.
    public static func rename(_ tmp: URL, to url: URL) throws {
        guard Foundation.rename(tmp.path, url.path) == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: url.path, NSUnderlyingErrorKey: POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)])
        }
    }
}
