import Foundation

/// Progress of one `HubClient.snapshot` call, in order.
public enum HubProgress: Sendable {
    /// Asking the Hub which commit the revision names and which files it holds.
    case resolving(repo: String)
    /// A file is about to be downloaded; `index` counts from 1 up to `count` (the files wanted).
    case file(name: String, index: Int, count: Int, size: Int64?)
    /// Bytes of the current file on disk so far (a resumed file starts at its partial size).
    /// Emitted at most about ten times a second per file, and once at the end.
    case bytes(name: String, done: Int64, total: Int64?, bytesPerSecond: Double)
    /// The file is already in the cache; nothing was downloaded for it.
    case cached(name: String)
    /// The Hub could not be reached; a complete cached snapshot is used instead.
    case usingCache(reason: String)
    /// The snapshot directory, complete.
    case done(URL)
}

public enum HubError: Error, CustomStringConvertible, Sendable, Equatable {
    case invalidRepoID(String)
    case invalidRevision(String)
    /// The Hub listed a file name that is not a safe relative path inside the repository.
    case unsafeFileName(repo: String, name: String)
    case repoNotFound(repo: String)
    case revisionNotFound(repo: String, revision: String)
    case noMatchingFiles(repo: String, revision: String)
    case fileDownloadFailed(file: String, status: Int)
    case integrityMismatch(file: String, expected: String, actual: String)
    case notCachedOffline(repo: String, revision: String)
    case network(String)
    case invalidResponse(String)
    case cacheWriteFailed(path: String, message: String)

    public var description: String {
        switch self {
        case let .invalidRepoID(id):
            return "'\(id)' is not a Hugging Face repository id: expected ORG/NAME (letters, digits, '-', '_', '.'; no '..' or '--')"
        case let .invalidRevision(revision):
            return "'\(revision)' is not a valid revision: expected a branch, tag or 40-hex commit without '..' or empty path parts"
        case let .unsafeFileName(repo, name):
            return "the Hub listed a file '\(name)' in \(repo) that would land outside the snapshot directory; refusing to download"
        case let .repoNotFound(repo):
            return "repository \(repo) not found on the Hugging Face Hub: check the id, or set HF_TOKEN " +
                "(or log in with `hf auth login`) if it is gated or private"
        case let .revisionNotFound(repo, revision):
            return "revision '\(revision)' not found in \(repo): check the branch, tag or commit name"
        case let .noMatchingFiles(repo, revision):
            return "\(repo) at \(revision) holds no model files (config.json, tokenizer files, *.safetensors)"
        case let .fileDownloadFailed(file, status):
            if status == 401 || status == 403 {
                return "download of \(file) refused (HTTP \(status)): set HF_TOKEN to a token with access to the repository"
            }
            return "download of \(file) failed with HTTP status \(status)"
        case let .integrityMismatch(file, expected, actual):
            return "downloaded \(file) is corrupt: expected \(expected), got \(actual); the partial file was removed, run again"
        case let .notCachedOffline(repo, revision):
            return "\(repo) at revision '\(revision)' is not in the local Hugging Face cache and offline mode is on " +
                "(HF_HUB_OFFLINE): unset HF_HUB_OFFLINE to download it, or pass a local model directory"
        case let .network(message):
            return "cannot reach the Hugging Face Hub: \(message)"
        case let .invalidResponse(message):
            return "unexpected answer from the Hugging Face Hub: \(message)"
        case let .cacheWriteFailed(path, message):
            return "cannot write to the Hugging Face cache at \(path): \(message)"
        }
    }
}
