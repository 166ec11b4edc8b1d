import Foundation

/// A fixture written by Tests/Reference/make_fixtures.py ("SFFX" v1: named float32 tensors).
struct Fixture {
    var tensors: [String: (shape: [Int], values: [Float])] = [:]

    static func url(_ name: String) -> URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
            .appendingPathComponent(name)
    }

    init(named name: String) throws {
        let bytes = [UInt8](try Data(contentsOf: Self.url(name)))
        var o = 0
        func take(_ n: Int) throws -> ArraySlice<UInt8> {
            guard o + n <= bytes.count else { throw CocoaError(.fileReadCorruptFile) }
            defer { o += n }
            return bytes[o ..< o + n]
        }
        func uint(_ n: Int) throws -> Int { try take(n).reversed().reduce(0) { $0 << 8 | Int($1) } }
        guard Array(try take(4)) == Array("SFFX".utf8), try uint(4) == 1 else { throw CocoaError(.fileReadCorruptFile) }
        for _ in 0 ..< (try uint(4)) {
            let name = String(decoding: try take(try uint(2)), as: UTF8.self)
            let shape = try (0 ..< (try uint(1))).map { _ in try uint(4) }
            let n = shape.reduce(1, *)
            let raw = try take(4 * n)
            let values = (0 ..< n).map { i in
                Float(
                    bitPattern: raw[(raw.startIndex + 4 * i) ..< (raw.startIndex + 4 * i + 4)].reversed().reduce(
                        UInt32(0)
                    ) { $0 << 8 | UInt32($1) })
            }
            tensors[name] = (shape, values)
        }
    }

    subscript(_ name: String) -> [Float] {
        guard let t = tensors[name] else { fatalError("fixture has no \(name)") }
        return t.values
    }

    func scalar(_ name: String) -> Double { Double(self[name][0]) }
    func shape(_ name: String) -> [Int] { tensors[name]?.shape ?? [] }
}

/// ‖a − b‖ / ‖b‖ and max |a − b| / max |b|, in Double.
func relativeDifference(_ a: [Float], _ b: [Float]) -> (norm: Double, max: Double) {
    precondition(a.count == b.count)
    var d = 0.0, n = 0.0, md = 0.0, mb = 0.0
    for (x, y) in zip(a, b) {
        let e = Double(x) - Double(y)
        d += e * e
        n += Double(y) * Double(y)
        md = max(md, abs(e))
        mb = max(mb, abs(Double(y)))
    }
    return ((d / max(n, 1e-300)).squareRoot(), md / max(mb, 1e-300))
}
