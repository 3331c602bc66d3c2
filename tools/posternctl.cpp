// posternctl: the operator's tool (DESIGN.md section 1).
//
//   posternctl -c FILE lookup ADDRESS|-     where an account lives
//   posternctl -c FILE auth ADDRESS         test a login (password on stdin)
//   posternctl -c FILE check-config         validate a configuration file
//   posternctl hash-password [sha512|yescrypt]   hash a password (stdin) for users.map
#include <unistd.h>

#include <fmt/format.h>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/log.hpp"
#include "core/secret.hpp"
#include "mapping/password_hash.hpp"
#include "tools/directory_commands.hpp"
#include "tools/exit_codes.hpp"
#include "tools/process_config.hpp"

namespace {

using namespace postern;
using namespace postern::tools;

void usage(std::ostream& out) {
  out << "usage: posternctl -c FILE [-v] COMMAND [ARGS]\n"
         "commands:\n"
         "  lookup ADDRESS     print the node and attributes of an account\n"
         "                     (exit 0 found, 67 not found, 75 temporary failure);\n"
         "                     ADDRESS '-' reads one address a line from stdin\n"
         "  auth ADDRESS       check a login; the password is read from stdin\n"
         "                     (exit 0 accepted, 77 denied, 75 temporary failure)\n"
         "  check-config       validate the configuration file (exit 0 or 78)\n"
         "  hash-password [sha512|yescrypt]\n"
         "                     print a crypt(3) hash of the password on stdin, for users.map\n";
}

int hash_password_command(const std::vector<std::string>& args) {
  auto scheme = mapping::PasswordScheme::Yescrypt;
  if (!args.empty() && args[0] == "sha512")
    scheme = mapping::PasswordScheme::Sha512;
  else if (!args.empty() && args[0] != "yescrypt") {
    std::cerr << "posternctl: hash-password: unknown scheme '" << args[0]
              << "' (sha512 or yescrypt)\n";
    return kExitUsage;
  }
  std::string line;
  std::getline(std::cin, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  core::Secret password(std::move(line));
  auto hash = mapping::hash_password(password.reveal(), scheme);
  if (!hash) {
    std::cerr << "posternctl: hash-password: " << hash.error() << "\n";
    return kExitSoftware;
  }
  std::cout << *hash << "\n";
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_file;
  bool verbose = false;
  int opt;
  while ((opt = getopt(argc, argv, "+c:vh")) != -1) {
    switch (opt) {
      case 'c':
        config_file = optarg;
        break;
      case 'v':
        verbose = true;
        break;
      case 'h':
        usage(std::cout);
        return kExitOk;
      default:
        usage(std::cerr);
        return kExitUsage;
    }
  }
  if (optind >= argc) {
    usage(std::cerr);
    return kExitUsage;
  }
  std::string command = argv[optind];
  std::vector<std::string> args(argv + optind + 1, argv + argc);
  core::set_log_level(verbose ? core::LogLevel::Debug : core::LogLevel::Warn);

  if (command == "hash-password") return hash_password_command(args);
  if (config_file.empty()) {
    std::cerr << "posternctl: " << command << " needs a configuration file: -c FILE\n";
    return kExitUsage;
  }
  try {
    // posternctl logs to stderr at warn (or debug with -v), whatever the file says.
    auto config = load_process_config(config_file);
    if (command == "check-config") {
      std::cout << config_file << ": ok\n";
      return kExitOk;
    }
    if (command == "lookup" || command == "auth") {
      if (args.size() != 1) {
        std::cerr << "posternctl: " << command << " takes one ADDRESS\n";
        return kExitUsage;
      }
      if (!config.directory) {
        std::cerr << "posternctl: " << config_file << ": directory: missing; expected the "
                  << "directory section to " << command << " with\n";
        return kExitConfig;
      }
      return command == "lookup" ? run_lookup(*config.directory, args[0], std::cin, std::cout)
                                 : run_auth(*config.directory, args[0], std::cin, std::cout);
    }
    std::cerr << "posternctl: unknown command '" << command << "'\n";
    usage(std::cerr);
    return kExitUsage;
  } catch (const core::ConfigError& e) {
    std::cerr << "posternctl: " << e.what() << "\n";
    return kExitConfig;
  } catch (const std::exception& e) {
    std::cerr << "posternctl: " << e.what() << "\n";
    return kExitSoftware;
  }
}
