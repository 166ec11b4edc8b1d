import Foundation

/// Files that are either complete or absent: written to a temporary file beside the destination, fsynced and
/// renamed into place. What the journal, a worker's weights cache and a fetched output use.
public enum DurableFile {
    /// Writes `data` to `url` durably: one open, the bytes, fsync, close, rename (the coordinator stores every
    /// finished tile this way, so it is kept to the system calls it needs).
    public static func write(_ data: Data, to url: URL) throws {
        let tmp = temporary(for: url)
        let fd = open(tmp.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw error(errno, url) }
        var failure: Int32 = 0
        data.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count, failure == 0 {
                let n = Foundation.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n > 0 { offset += n } else if n < 0, errno != EINTR { failure = errno }
            }
        }
        if failure == 0, fsync(fd) != 0 { failure = errno }
        if close(fd) != 0, failure == 0 { failure = errno }
        guard failure == 0 else {
            unlink(tmp.path)
            throw error(failure, url)
        }
        try commit(tmp, to: url)
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
        let tmp = temporary(for: url)
        try write(tmp)
        let handle = try FileHandle(forWritingTo: tmp)
        try handle.synchronize()
        try handle.close()
        try commit(tmp, to: url)
    }

    /// Renames a finished temporary file into place, or removes it.
    static func commit(_ tmp: URL, to url: URL) throws {
        do { try rename(tmp, to: url) } catch {
            unlink(tmp.path)
            throw error
        }
    }

    /// `rename(2)`, with errno as a Foundation error that names the destination.
    public static func rename(_ tmp: URL, to url: URL) throws {
        guard Foundation.rename(tmp.path, url.path) == 0 else { throw error(errno, url) }
    }

    /// The temporary file beside `url`: unique per process, since workers sharing a cache directory may write the
    /// same file at once.
    static func temporary(for url: URL) -> URL { url.appendingPathExtension("\(getpid()).tmp") }

    static func error(_ code: Int32, _ url: URL) -> Error {
        CocoaError(
            .fileWriteUnknown,
            userInfo: [
                NSFilePathErrorKey: url.path, NSUnderlyingErrorKey: POSIXError(POSIXErrorCode(rawValue: code) ?? .EIO)
            ])
    }
}
