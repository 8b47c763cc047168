import Crypto
import Foundation

/// SHA-256 as the Hub writes it (64 lowercase hex characters): the LFS etag of a weight file and
/// the name of its blob in the cache.
public enum HubDigest {
    public static func sha256Hex(_ data: Data) -> String {
        hex(SHA256.hash(data: data))
    }

    static func hex(_ digest: SHA256.Digest) -> String {
        digest.map { String(format: "%02x", $0) }.joined()
    }
}
