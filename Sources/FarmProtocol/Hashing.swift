import Crypto

/// Content addresses: lowercase hex SHA-256.
public enum ContentHash {
    public static func sha256<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 {
        let digits = Array("0123456789abcdef")
        // safe-int: widening a byte
        return String(SHA256.hash(data: Array(bytes)).flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] })
    }
}
