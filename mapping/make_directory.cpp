#include "mapping/make_directory.hpp"

#include "mapping/caching_directory.hpp"
#include "mapping/file_directory.hpp"
#include "mapping/ldap_directory.hpp"

namespace postern::mapping {

std::unique_ptr<Directory> make_directory(const DirectoryConfig& config) {
  std::unique_ptr<Directory> source;
  if (config.source == DirectoryConfig::Source::File) {
    source = std::make_unique<FileDirectory>(config.file, config.primary_domain);
  } else {
    source = std::make_unique<LdapDirectory>(config.ldap, config.primary_domain);
  }
  if (!config.cache.enabled) return source;
  return std::make_unique<CachingDirectory>(std::move(source), config.cache, config.primary_domain);
}

}  // namespace postern::mapping
