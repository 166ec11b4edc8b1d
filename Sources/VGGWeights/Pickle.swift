import Foundation

/// A value produced by the restricted pickle reader.
///
/// Only what a legacy `torch.save` stream of tensors needs exists here; anything else is refused.
public indirect enum PickleValue: Equatable, Sendable {
    case none
    case bool(Bool)
    case int(Int64)
    case bigInt([UInt8])  // LONG1 payload (little-endian two's complement), kept raw
    case string(String)
    case tuple([PickleValue])
    case list([PickleValue])
    case dict([(PickleValue, PickleValue)])
    /// A `GLOBAL` reference, e.g. `torch._utils._rebuild_tensor_v2`.
    case global(module: String, name: String)
    /// A `BINPERSID` persistent id (torch uses these for storages).
    case persistent(PickleValue)
    /// A `REDUCE` of a callable with its arguments (kept symbolic: nothing is executed).
    case reduce(callable: PickleValue, args: PickleValue)
    case mark

    public static func == (a: PickleValue, b: PickleValue) -> Bool {
        switch (a, b) {
        case (.none, .none), (.mark, .mark): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.int(x), .int(y)): return x == y
        case let (.bigInt(x), .bigInt(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.tuple(x), .tuple(y)), let (.list(x), .list(y)): return x == y
        case let (.dict(x), .dict(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        case let (.global(m1, n1), .global(m2, n2)): return m1 == m2 && n1 == n2
        case let (.persistent(x), .persistent(y)): return x == y
        case let (.reduce(c1, a1), .reduce(c2, a2)): return c1 == c2 && a1 == a2
        default: return false
        }
    }
}

/// Errors from reading a pickle stream.
public enum PickleError: Error, Equatable, CustomStringConvertible {
    case truncated(offset: Int)
    case unsupportedOpcode(UInt8, offset: Int)
    case disallowedGlobal(String)
    case malformed(String, offset: Int)

    public var description: String {
        switch self {
        case .truncated(let o): return "pickle stream truncated at byte \(o)"
        case .unsupportedOpcode(let op, let o):
            return "unsupported pickle opcode 0x\(String(op, radix: 16)) at byte \(o)"
        case .disallowedGlobal(let g): return "pickle refers to a global that is not allowed: \(g)"
        case .malformed(let why, let o): return "malformed pickle at byte \(o): \(why)"
        }
    }
}

/// A restricted pickle (protocol 2) reader: a small stack machine over the opcodes that a legacy
/// `torch.save` stream uses. It never executes anything: `GLOBAL` and `REDUCE` stay symbolic, and
/// globals outside `allowedGlobals` are refused.
public struct PickleReader {
    public static let allowedGlobals: Set<String> = [
        "torch._utils._rebuild_tensor_v2", "torch.ByteStorage", "torch.FloatStorage", "collections.OrderedDict"
    ]
    private let bytes: [UInt8]
    /// Offset of the next byte to read.
    public private(set) var offset: Int

    public init(bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    /// Reads one pickle (up to and including its `STOP`) and returns its value.
    public mutating func readPickle() throws -> PickleValue {
        var stack: [PickleValue] = []
        var memo: [Int: PickleValue] = [:]
        while true {
            let opAt = offset
            let op = try u8()
            switch op {
            case 0x80: _ = try u8()  // PROTO
            case 0x2E:  // STOP
                guard let top = stack.popLast(), stack.isEmpty else {
                    throw PickleError.malformed("STOP with stack", offset: opAt)
                }
                return top
            case 0x7D: stack.append(.dict([]))  // EMPTY_DICT
            case 0x5D: stack.append(.list([]))  // EMPTY_LIST
            case 0x29: stack.append(.tuple([]))  // EMPTY_TUPLE
            case 0x28: stack.append(.mark)  // MARK
            case 0x4E: stack.append(.none)  // NONE
            case 0x88: stack.append(.bool(true))  // NEWTRUE
            case 0x89: stack.append(.bool(false))  // NEWFALSE
            case 0x4B: stack.append(.int(Int64(try u8())))  // BININT1
            case 0x4D: stack.append(.int(Int64(try uint(2))))  // BININT2
            case 0x4A: stack.append(.int(Int64(Int32(truncatingIfNeeded: try uint(4)))))  // BININT
            case 0x8A:  // LONG1
                let n = Int(try u8())
                stack.append(.bigInt(try take(n)))
            case 0x58:  // BINUNICODE
                let n = Int(try uint(4))
                guard let s = String(bytes: try take(n), encoding: .utf8) else {
                    throw PickleError.malformed("invalid UTF-8 string", offset: opAt)
                }
                stack.append(.string(s))
            case 0x63:  // GLOBAL "module\nname\n"
                let module = try line(), name = try line()
                guard Self.allowedGlobals.contains("\(module).\(name)") else {
                    throw PickleError.disallowedGlobal("\(module).\(name)")
                }
                stack.append(.global(module: module, name: name))
            case 0x71: memo[Int(try u8())] = try top(stack, opAt)  // BINPUT
            case 0x72: memo[Int(try uint(4))] = try top(stack, opAt)  // LONG_BINPUT
            case 0x68, 0x6A:  // BINGET, LONG_BINGET
                let key = op == 0x68 ? Int(try u8()) : Int(try uint(4))
                guard let v = memo[key] else { throw PickleError.malformed("memo key \(key) missing", offset: opAt) }
                stack.append(v)
            case 0x74:  // TUPLE
                stack.append(.tuple(try popToMark(&stack, opAt)))
            case 0x85, 0x86, 0x87:  // TUPLE1..3
                let n = Int(op - 0x84)
                guard stack.count >= n else { throw PickleError.malformed("stack underflow", offset: opAt) }
                let items = Array(stack.suffix(n))
                stack.removeLast(n)
                stack.append(.tuple(items))
            case 0x51:  // BINPERSID
                guard let pid = stack.popLast() else { throw PickleError.malformed("stack underflow", offset: opAt) }
                stack.append(.persistent(pid))
            case 0x52:  // REDUCE
                guard stack.count >= 2 else { throw PickleError.malformed("stack underflow", offset: opAt) }
                let args = stack.removeLast(), callable = stack.removeLast()
                guard case .global = callable, case .tuple = args else {
                    throw PickleError.malformed("REDUCE needs a global and a tuple", offset: opAt)
                }
                // An OrderedDict() is just a dict for our purposes.
                if callable == .global(module: "collections", name: "OrderedDict") {
                    stack.append(.dict([]))
                } else {
                    stack.append(.reduce(callable: callable, args: args))
                }
            case 0x75:  // SETITEMS
                let items = try popToMark(&stack, opAt)
                guard items.count % 2 == 0, case .dict(var pairs) = stack.popLast() ?? .none else {
                    throw PickleError.malformed("SETITEMS needs a dict and key/value pairs", offset: opAt)
                }
                for i in stride(from: 0, to: items.count, by: 2) { pairs.append((items[i], items[i + 1])) }
                stack.append(.dict(pairs))
            case 0x65:  // APPENDS
                let items = try popToMark(&stack, opAt)
                guard case .list(let list) = stack.popLast() ?? .none else {
                    throw PickleError.malformed("APPENDS needs a list", offset: opAt)
                }
                stack.append(.list(list + items))
            default:
                throw PickleError.unsupportedOpcode(op, offset: opAt)
            }
        }
    }

    // MARK: - Byte access

    private mutating func u8() throws -> UInt8 {
        guard offset < bytes.count else { throw PickleError.truncated(offset: offset) }
        defer { offset += 1 }
        return bytes[offset]
    }

    private mutating func uint(_ n: Int) throws -> UInt64 {
        let b = try take(n)
        return b.reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }

    private mutating func take(_ n: Int) throws -> [UInt8] {
        guard n >= 0, offset + n <= bytes.count else { throw PickleError.truncated(offset: bytes.count) }
        defer { offset += n }
        return Array(bytes[offset ..< offset + n])
    }

    private mutating func line() throws -> String {
        guard let end = bytes[offset...].firstIndex(of: 0x0A), end - offset < 256 else {
            throw PickleError.truncated(offset: bytes.count)
        }
        defer { offset = end + 1 }
        return String(decoding: bytes[offset ..< end], as: UTF8.self)
    }

    private func top(_ stack: [PickleValue], _ at: Int) throws -> PickleValue {
        guard let v = stack.last else { throw PickleError.malformed("memo of empty stack", offset: at) }
        return v
    }

    private func popToMark(_ stack: inout [PickleValue], _ at: Int) throws -> [PickleValue] {
        guard let m = stack.lastIndex(of: .mark) else { throw PickleError.malformed("no MARK", offset: at) }
        let items = Array(stack[(m + 1)...])
        stack.removeSubrange(m...)
        return items
    }
}
