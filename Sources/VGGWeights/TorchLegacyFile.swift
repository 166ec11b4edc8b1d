import Foundation

/// A tensor read from a legacy `torch.save` stream: raw little-endian data with its shape.
public struct RawTensor: Sendable, Equatable {
    public enum DType: String, Sendable { case uint8, float32 }
    public var dtype: DType
    public var shape: [Int]
    /// Element values as raw little-endian bytes (1 byte per uint8, 4 per float32).
    public var data: [UInt8]

    public var count: Int { shape.reduce(1, *) }

    public init(dtype: DType, shape: [Int], data: [UInt8]) {
        self.dtype = dtype
        self.shape = shape
        self.data = data
    }

    /// The values as `Float`s (float32 tensors only).
    public func floats() -> [Float] {
        precondition(dtype == .float32)
        return data.withUnsafeBytes { raw in
            (0 ..< count).map {
                Float(bitPattern: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self).littleEndian)
            }
        }
    }
}

/// Errors from reading a legacy `torch.save` stream.
public enum TorchFileError: Error, Equatable, CustomStringConvertible {
    case pickle(PickleError)
    case notTorchFile(String)
    case unexpected(String)
    case truncated(String)

    public var description: String {
        switch self {
        case .pickle(let e): return "not a valid torch.save stream: \(e)"
        case .notTorchFile(let why): return "not a legacy torch.save stream: \(why)"
        case .unexpected(let why): return "unexpected content in torch.save stream: \(why)"
        case .truncated(let why): return "torch.save stream is truncated: \(why)"
        }
    }
}

/// Reader for the legacy (non-zip) `torch.save` format, without PyTorch.
///
/// The stream is: pickle(magic 0x1950a86a20f9469cfc6c), pickle(protocol 1001), pickle(sys info),
/// pickle(the object, storages as persistent ids), pickle(list of storage keys), then for each key
/// an int64 element count and the raw data. See Docs/weights-format.md.
public enum TorchLegacyFile {
    /// The magic number, as LONG1's little-endian payload.
    public static let magic: [UInt8] = [0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]

    /// Parses a stream holding a dict of tensors and returns them by name, in file order.
    public static func readTensors(_ bytes: [UInt8]) throws -> [(name: String, tensor: RawTensor)] {
        var reader = PickleReader(bytes: bytes)
        do {
            guard case .bigInt(let m) = try reader.readPickle(), m == magic else {
                throw TorchFileError.notTorchFile("bad magic number")
            }
            guard try reader.readPickle() == .int(1001) else {
                throw TorchFileError.notTorchFile("protocol is not 1001")
            }
            guard case .dict(let info) = try reader.readPickle(),
                info.contains(where: { $0.0 == .string("little_endian") && $0.1 == .bool(true) })
            else { throw TorchFileError.unexpected("sys info is not little-endian") }
            let root = try reader.readPickle()
            guard case .list(let keyValues) = try reader.readPickle() else {
                throw TorchFileError.unexpected("storage key list missing")
            }
            let keys = try keyValues.map { v -> String in
                guard case .string(let s) = v else { throw TorchFileError.unexpected("storage key is not a string") }
                return s
            }
            guard case .dict(let entries) = root else {
                throw TorchFileError.unexpected("top-level object is not a dict")
            }
            let specs = try entries.map { key, value -> (String, TensorSpec) in
                guard case .string(let name) = key else {
                    throw TorchFileError.unexpected("tensor name is not a string")
                }
                return (name, try TensorSpec(value, name: name))
            }
            var types: [String: RawTensor.DType] = [:]
            for (_, spec) in specs { types[spec.storageKey] = spec.dtype }
            let storages = try readStorages(bytes, from: reader.offset, keys: keys, types: types)
            return try specs.map { name, spec in (name, try spec.materialise(storages, name: name)) }
        } catch let e as PickleError {
            throw TorchFileError.pickle(e)
        }
    }

    private struct Storage { var dtype: RawTensor.DType; var count: Int; var data: ArraySlice<UInt8> }

    /// What `_rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)` describes.
    private struct TensorSpec {
        var storageKey: String
        var dtype: RawTensor.DType
        var offset: Int
        var shape: [Int]
        var stride: [Int]

        init(_ v: PickleValue, name: String) throws {
            guard case .reduce(.global("torch._utils", "_rebuild_tensor_v2"), .tuple(let args)) = v, args.count >= 4,
                case .persistent(.tuple(let pid)) = args[0], pid.count >= 5, pid[0] == .string("storage"),
                case .global("torch", let typeName) = pid[1], case .string(let key) = pid[2],
                case .int(let off) = args[1], case .tuple(let size) = args[2], case .tuple(let stride) = args[3]
            else { throw TorchFileError.unexpected("\(name) is not a plain tensor") }
            switch typeName {
            case "ByteStorage": dtype = .uint8
            case "FloatStorage": dtype = .float32
            default: throw TorchFileError.unexpected("\(name) has storage type \(typeName)")
            }
            func ints(_ xs: [PickleValue]) throws -> [Int] {
                try xs.map { x in
                    guard case .int(let i) = x, i >= 0, i < 1 << 32 else {
                        throw TorchFileError.unexpected("\(name) has a bad size")
                    }
                    return Int(i)
                }
            }
            storageKey = key
            offset = Int(off)
            shape = try ints(size)
            self.stride = try ints(stride)
        }

        func materialise(_ storages: [String: Storage], name: String) throws -> RawTensor {
            guard let s = storages[storageKey] else {
                throw TorchFileError.unexpected("\(name): storage \(storageKey) missing")
            }
            // Only contiguous tensors occur in the weight files: check rather than assume.
            var expected = 1
            for (dim, st) in zip(shape, stride).reversed() {
                guard st == expected || dim == 1 else { throw TorchFileError.unexpected("\(name) is not contiguous") }
                expected *= dim
            }
            let n = shape.reduce(1, *)
            guard offset >= 0, offset + n <= s.count else {
                throw TorchFileError.unexpected("\(name) overruns its storage")
            }
            let width = dtype == .uint8 ? 1 : 4
            let lo = s.data.startIndex + offset * width
            return RawTensor(dtype: dtype, shape: shape, data: Array(s.data[lo ..< lo + n * width]))
        }
    }

    private static func readStorages(
        _ bytes: [UInt8], from start: Int, keys: [String], types: [String: RawTensor.DType]
    ) throws -> [String: Storage] {
        var offset = start
        var result: [String: Storage] = [:]
        for key in keys {
            guard let dtype = types[key] else {
                throw TorchFileError.unexpected("storage \(key) is not used by any tensor")
            }
            guard offset + 8 <= bytes.count else { throw TorchFileError.truncated("storage \(key) header missing") }
            let n = bytes[offset ..< offset + 8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            offset += 8
            let width = dtype == .uint8 ? 1 : 4
            guard n < 1 << 40, offset + Int(n) * width <= bytes.count else {
                throw TorchFileError.truncated("storage \(key) needs \(n) elements, file ends first")
            }
            result[key] = Storage(dtype: dtype, count: Int(n), data: bytes[offset ..< offset + Int(n) * width])
            offset += Int(n) * width
        }
        guard offset == bytes.count else {
            throw TorchFileError.unexpected("\(bytes.count - offset) bytes after the last storage")
        }
        return result
    }
}
