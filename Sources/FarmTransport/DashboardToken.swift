import CZmq
import Crypto
import FarmProtocol
import Foundation

/// Signing in to the dashboard with a farm key (Docs/dashboard.md, "Who may press which button"). A client or admin
/// key pair and the coordinator's public key agree on a secret (X25519, the same curve CURVE uses), from which the
/// token's MAC is derived: the coordinator checks it with its own secret key and the allowlist, so a token names an
/// allowed key (and so a role) without any new secret to hand out, and one key's token is worth nothing on another
/// coordinator. `stylefarm dashboard-token` prints it. Format: the key's 32 bytes in hex, `.`, the MAC in hex (129
/// characters, safe in a URL).
public enum DashboardToken {
    static let info = Data("stylefarm dashboard token v1".utf8)

    /// The token of `keys` for the coordinator whose public key is `server` (Z85).
    public static func make(keys: CurveKeyPair, server: String) throws -> String {
        guard let secret = CurveKeyPair.raw(keys.secretKey), let pub = CurveKeyPair.raw(keys.publicKey),
            let serverPub = CurveKeyPair.raw(server)
        else { throw CurveKeyPair.KeyError.badFile("key", "not a CURVE key") }
        let mac = try code(secret: secret, peer: serverPub, about: pub)
        return hex(pub) + "." + hex(mac)
    }

    /// Who holds `token`: the allowlisted key it names, if its MAC was made with that key and this coordinator's.
    public static func caller(_ token: String, serverSecret: String, allowlist: Allowlist) -> Caller? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let pub = bytes(hex: parts[0]), pub.count == 32, let mac = bytes(hex: parts[1]),
            mac.count == 32,
            let key = z85(pub), let caller = allowlist.caller(key: key),
            let secret = CurveKeyPair.raw(serverSecret), let expected = try? code(secret: secret, peer: pub, about: pub)
        else { return nil }
        var difference: UInt8 = 0
        for i in 0 ..< 32 { difference |= expected[i] ^ mac[i] }
        return difference == 0 ? caller : nil
    }

    /// HMAC-SHA256 over the client's public key, keyed by HKDF of the X25519 secret of `secret` and `peer`.
    static func code(secret: [UInt8], peer: [UInt8], about client: [UInt8]) throws -> [UInt8] {
        let shared = try Curve25519.KeyAgreement.PrivateKey(rawRepresentation: secret)
            .sharedSecretFromKeyAgreement(with: Curve25519.KeyAgreement.PublicKey(rawRepresentation: peer))
        let key = shared.hkdfDerivedSymmetricKey(
            using: SHA256.self, salt: Data(), sharedInfo: info, outputByteCount: 32)
        return Array(HMAC<SHA256>.authenticationCode(for: Data(client), using: key))
    }

    static func hex(_ b: [UInt8]) -> String { b.map { String(format: "%02x", $0) }.joined() }

    static func bytes(hex: Substring) -> [UInt8]? {
        let u = Array(hex.utf8)
        guard u.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(u.count / 2)
        for i in stride(from: 0, to: u.count, by: 2) {
            // safe-int: a failable parse of text
            guard let b = UInt8(String(decoding: u[i ..< i + 2], as: UTF8.self), radix: 16) else { return nil }
            out.append(b)
        }
        return out
    }

    static func z85(_ raw: [UInt8]) -> String? {
        var out = [CChar](repeating: 0, count: 41)
        return raw.withUnsafeBufferPointer { zmq_z85_encode(&out, $0.baseAddress, 32) } == nil
            ? nil : String(cString: out)
    }
}
