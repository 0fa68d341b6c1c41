#pragma once
// What the libgit2 users of the edge layer share (source: fetching image sources; gitstate:
// committing and pushing the state repository): libgit2 initialised once with a timed socket
// stream, RAII handles, the last libgit2 error as text, https credentials handed to libgit2
// from a payload, and the interrupt check of transfers. Internal to src/edge.
#include <git2.h>

#include <chrono>
#include <string>
#include <string_view>

namespace imgf::gitsupport {

// git_libgit2_init once for the process, with the timed standard stream registered: connecting
// and every read and write are bounded (set_timeouts), and SIGINT/SIGTERM abort them.
void ensure_libgit2();
// The bounds of the timed stream (process-wide; the last caller wins).
void set_timeouts(std::chrono::milliseconds connect, std::chrono::milliseconds io);

// The message of libgit2's last error, or "unknown libgit2 error".
std::string git_error_text();

template <typename T, void (*Free)(T*)>
struct Git {
  T* p = nullptr;
  Git() = default;
  ~Git() {
    if (p) Free(p);
  }
  Git(const Git&) = delete;
  Git& operator=(const Git&) = delete;
  T** out() { return &p; }
  void reset() {
    if (p) Free(p);
    p = nullptr;
  }
};
using Repo = Git<git_repository, git_repository_free>;
using Remote = Git<git_remote, git_remote_free>;
using Reference = Git<git_reference, git_reference_free>;
using Object = Git<git_object, git_object_free>;
using Config = Git<git_config, git_config_free>;
using Commit = Git<git_commit, git_commit_free>;
using Tree = Git<git_tree, git_tree_free>;
using TreeEntry = Git<git_tree_entry, git_tree_entry_free>;
using Index = Git<git_index, git_index_free>;
using Signature = Git<git_signature, git_signature_free>;
using StatusList = Git<git_status_list, git_status_list_free>;
using Blob = Git<git_blob, git_blob_free>;
using Diff = Git<git_diff, git_diff_free>;

// The host of a repository URL (https://user@host:port/path, ssh://..., user@host:path);
// "" when there is none.
std::string host_of(std::string_view url);

// What the credentials callback hands libgit2 for one remote operation.
struct Credentials {
  std::string token;       // password or token for user/password authentication
  std::string token_user;  // the user name sent with it
  std::string token_env;   // for the hint: the variable that would help (GITHUB_TOKEN ...)
  bool withheld = false;   // a token is set but not sent to this host
  std::string missing_hint;  // when set: the whole hint for "the server asks for credentials"
  int attempts = 0;
  bool refused = false;  // the server asked again after we answered, or we had nothing to answer
};

// git_credential_acquire_cb over a Credentials payload: user/password once, else the ssh
// agent; a second request (the server refused the answer) fails with "authentication failed".
int credentials_cb(git_credential** out, const char* url, const char* username_from_url, unsigned int allowed,
                   void* payload);
// git_indexer_progress_cb: aborts the transfer when SIGINT/SIGTERM arrived.
int transfer_cb(const git_indexer_progress* stats, void* payload);

}  // namespace imgf::gitsupport
