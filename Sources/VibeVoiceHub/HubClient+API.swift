import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

extension HubClient {
    // MARK: Hub API

    struct RepoInfo {
        var commit: String
        var files: [String]
    }

    func request(_ url: URL, method: String = "GET") -> URLRequest {
        var request = URLRequest(url: url)
        request.httpMethod = method
        request.timeoutInterval = max(1, timeout)  // FoundationNetworking treats sub-second limits as zero
        request.setValue("vibevoice-asr", forHTTPHeaderField: "User-Agent")
        request.setValue("identity", forHTTPHeaderField: "Accept-Encoding")
        if let token, url.hubOrigin == endpoint.hubOrigin {
            request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        }
        return request
    }

    func url(_ path: String) throws -> URL {
        guard let url = URL(string: endpoint.absoluteString + path) else {
            throw HubError.invalidResponse("cannot form a URL from \(endpoint.absoluteString)\(path)")
        }
        return url
    }

    static func encodePath(_ s: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "?#;%")
        return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s
    }

    /// `GET /api/models/{repo}/revision/{revision}`: the commit and the file list.
    func repoInfo(repo: String, revision: String) throws -> RepoInfo {
        var segment = CharacterSet.urlPathAllowed
        segment.remove(charactersIn: "/?#;%")
        let rev = revision.addingPercentEncoding(withAllowedCharacters: segment) ?? revision
        let apiURL = try url("/api/models/\(repo)/revision/\(rev)")
        var body = Data()
        let response = try HubHTTPExchange.run(request(apiURL), onData: { chunk in
            guard body.count + chunk.count <= 64 << 20 else {
                throw HubError.invalidResponse("\(apiURL.absoluteString): answer larger than 64 MB")
            }
            body.append(chunk)
        })
        let status = response.statusCode
        if status == 401 || status == 403 || status == 404 {
            if response.header("X-Error-Code") == "RevisionNotFound" {
                throw HubError.revisionNotFound(repo: repo, revision: revision)
            }
            if status == 404, response.header("X-Error-Code") == "EntryNotFound" {
                throw HubError.revisionNotFound(repo: repo, revision: revision)
            }
            throw HubError.repoNotFound(repo: repo)
        }
        guard (200..<300).contains(status) else {
            throw HubError.invalidResponse("\(apiURL.absoluteString) answered HTTP \(status)")
        }
        guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else {
            throw HubError.invalidResponse("\(apiURL.absoluteString): body is not a JSON object")
        }
        guard let sha = object["sha"] as? String, Self.isCommitHash(sha) else {
            throw HubError.invalidResponse("\(apiURL.absoluteString): field 'sha' is not a 40-hex commit hash")
        }
        guard let siblings = object["siblings"] as? [Any] else {
            throw HubError.invalidResponse("\(apiURL.absoluteString): field 'siblings' is missing")
        }
        var files: [String] = []
        for sibling in siblings {
            guard let entry = sibling as? [String: Any], let name = entry["rfilename"] as? String else {
                throw HubError.invalidResponse("\(apiURL.absoluteString): a 'siblings' entry has no 'rfilename'")
            }
            files.append(name)
        }
        return RepoInfo(commit: sha, files: files)
    }
}
