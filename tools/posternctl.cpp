// posternctl: the operator's tool (DESIGN.md section 1).
//
//   posternctl -c FILE lookup ADDRESS|-     where an account lives
//   posternctl -c FILE auth ADDRESS         test a login (password on stdin)
//   posternctl -c FILE check-config         validate a configuration file
//   posternctl -c NODECONF deliver ADDRESS [FOLDER] < message   local delivery
//   posternctl -c NODECONF queue list|flush|delete ID            the mail queue
//   posternctl -c NODECONF dns mx|txt|a|aaaa|ptr NAME            ask the node's resolver
//   posternctl -c NODECONF spf CLIENT_IP SENDER [HELO]           the SPF verdict
//
// FILE is a process's file with a "directory" section (conf/mapping-ldap.json)
// or a whole node's file (conf/node1.json); deliver needs the latter.
//   posternctl hash-password [sha512|yescrypt]   hash a password (stdin) for users.map
#include <unistd.h>

#include <fmt/format.h>
#include <cstring>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "backend/node/node_service.hpp"
#include "core/config.hpp"
#include "core/log.hpp"
#include "core/secret.hpp"
#include "mapping/password_hash.hpp"
#include "tools/deliver_command.hpp"
#include "tools/directory_commands.hpp"
#include "tools/dns_commands.hpp"
#include "tools/exit_codes.hpp"
#include "tools/process_config.hpp"
#include "tools/queue_commands.hpp"

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
         "  check-config       validate the configuration file (exit 0 or 78); a node's\n"
         "                     or proxy's file is checked as postern-node -t or\n"
         "                     postern-proxy -t checks it\n"
         "  deliver ADDRESS [FOLDER]\n"
         "                     deliver the message on stdin to ADDRESS's FOLDER (default\n"
         "                     INBOX) in this node's store; needs a node's file (exit 0\n"
         "                     delivered, 67 no such account here, 75 try again later,\n"
         "                     77 refused for good)\n"
         "  dns [--repeat N] [--pause SECONDS] mx|txt|a|aaaa|ptr NAME\n"
         "                     ask the node's resolver (its \"dns\" settings); one record\n"
         "                     a line (exit 0, 67 no such name or record, 75 temporary\n"
         "                     failure); --repeat shows whether the cache answered\n"
         "  spf CLIENT_IP SENDER [HELO]\n"
         "                     print the Received-SPF header for this client and sender\n"
         "  queue list         print the node's queued messages, one a line\n"
         "  queue delete ID    remove a queued message (exit 0, 67 no such message)\n"
         "  queue flush        ask the running node to retry every queued message now\n"
         "                     (exit 75 when the node is not running)\n"
         "  hash-password [sha512|yescrypt]\n"
         "                     print a crypt(3) hash of the password on stdin, for users.map\n";
}

// The protocols this build's postern-node serves, for checking a node's file.
std::set<std::string> node_protocols() {
  std::set<std::string> out;
  for (const auto& [name, factory] : node::node_services()) out.insert(name);
  return out;
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
    auto config = load_process_config(config_file, node_protocols());
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
    if (command == "deliver") {
      if (args.empty() || args.size() > 2) {
        std::cerr << "posternctl: deliver takes ADDRESS [FOLDER]\n";
        return kExitUsage;
      }
      if (!config.node) {
        std::cerr << "posternctl: " << config_file << ": node: missing; deliver needs the node's "
                  << "configuration file (its node.store and directory)\n";
        return kExitConfig;
      }
      return run_deliver(*config.node, args[0], args.size() == 2 ? args[1] : "", stdin, std::cerr);
    }
    if (command == "dns" || command == "spf") {
      if (!config.node) {
        std::cerr << "posternctl: " << config_file << ": node: missing; " << command
                  << " needs the node's configuration file (its dns settings)\n";
        return kExitConfig;
      }
      return command == "dns" ? run_dns(config.node->dns, args, std::cout, std::cerr)
                              : run_spf(config.node->dns, config.node->smtp.hostname, args,
                                        std::cout, std::cerr);
    }
    if (command == "queue") {
      bool ok = (args.size() == 1 && (args[0] == "list" || args[0] == "flush")) ||
                (args.size() == 2 && args[0] == "delete");
      if (!ok) {
        std::cerr << "posternctl: queue takes list, flush or delete ID\n";
        return kExitUsage;
      }
      if (!config.node) {
        std::cerr << "posternctl: " << config_file << ": node: missing; queue needs the node's "
                  << "configuration file\n";
        return kExitConfig;
      }
      if (args[0] == "list") return run_queue_list(config.node->queue.path, std::cout, std::cerr);
      if (args[0] == "flush") return run_queue_flush(config.node->admin, std::cout, std::cerr);
      return run_queue_delete(config.node->queue.path, args[1], std::cout, std::cerr);
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
