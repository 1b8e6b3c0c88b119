#include "controller/plan_parser.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/reflection.h>
#include <yaml-cpp/yaml.h>

#include <limits>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace rstmesh {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::EnumDescriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

std::string Join(absl::string_view path, absl::string_view key) {
  return path.empty() ? std::string(key) : absl::StrCat(path, ".", key);
}

std::string KindOf(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return absl::StrCat("'", node.Scalar(), "'");
    default:
      return "nothing";
  }
}

absl::Status Error(absl::string_view path, absl::string_view reason) {
  return absl::InvalidArgumentError(absl::StrCat(path.empty() ? "plan" : path, ": ", reason));
}

// "full_mesh" for PATTERN_KIND_FULL_MESH: the value name without the enum's own prefix.
std::string ShortName(const EnumDescriptor* type, const std::string& value_name) {
  std::string prefix;
  for (char c : type->name()) {
    if (absl::ascii_isupper(c) && !prefix.empty()) prefix += '_';
    prefix += absl::ascii_toupper(c);
  }
  prefix += '_';
  absl::string_view name(value_name);
  if (absl::StartsWith(name, prefix)) name.remove_prefix(prefix.size());
  return absl::AsciiStrToLower(name);
}

absl::Status SetScalar(const YAML::Node& node, Message* message, const FieldDescriptor* field,
                       absl::string_view path, bool repeated) {
  if (!node.IsScalar()) return Error(path, absl::StrCat("expected a value, got ", KindOf(node)));
  const std::string& text = node.Scalar();
  const Reflection* r = message->GetReflection();
  auto bad = [&](absl::string_view want) {
    return Error(path, absl::StrCat("expected ", want, ", got '", text, "'"));
  };
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      repeated ? r->AddString(message, field, text) : r->SetString(message, field, text);
      return absl::OkStatus();
    case FieldDescriptor::CPPTYPE_BOOL: {
      bool value;
      if (!absl::SimpleAtob(text, &value)) return bad("true or false");
      repeated ? r->AddBool(message, field, value) : r->SetBool(message, field, value);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_INT64: {
      int64_t value;
      if (!absl::SimpleAtoi(text, &value)) return bad("an integer");
      if (field->cpp_type() == FieldDescriptor::CPPTYPE_INT32 &&
          (value < std::numeric_limits<int32_t>::min() ||
           value > std::numeric_limits<int32_t>::max())) {
        return Error(path, absl::StrCat(text, " is out of range"));
      }
      if (field->cpp_type() == FieldDescriptor::CPPTYPE_INT32) {
        repeated ? r->AddInt32(message, field, value) : r->SetInt32(message, field, value);
      } else {
        repeated ? r->AddInt64(message, field, value) : r->SetInt64(message, field, value);
      }
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_UINT32:
    case FieldDescriptor::CPPTYPE_UINT64: {
      if (absl::StartsWith(absl::StripLeadingAsciiWhitespace(text), "-")) {
        return Error(path, absl::StrCat("must not be negative, got ", text));
      }
      uint64_t value;
      if (!absl::SimpleAtoi(text, &value)) return bad("an unsigned integer");
      if (field->cpp_type() == FieldDescriptor::CPPTYPE_UINT32) {
        if (value > std::numeric_limits<uint32_t>::max()) {
          return Error(path, absl::StrCat(text, " is out of range (at most ",
                                          std::numeric_limits<uint32_t>::max(), ")"));
        }
        repeated ? r->AddUInt32(message, field, value) : r->SetUInt32(message, field, value);
      } else {
        repeated ? r->AddUInt64(message, field, value) : r->SetUInt64(message, field, value);
      }
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT: {
      double value;
      if (!absl::SimpleAtod(text, &value)) return bad("a number");
      if (field->cpp_type() == FieldDescriptor::CPPTYPE_DOUBLE) {
        repeated ? r->AddDouble(message, field, value) : r->SetDouble(message, field, value);
      } else {
        repeated ? r->AddFloat(message, field, value) : r->SetFloat(message, field, value);
      }
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_ENUM: {
      const EnumDescriptor* type = field->enum_type();
      std::vector<std::string> known;
      for (int i = 0; i < type->value_count(); ++i) {
        const auto* value = type->value(i);
        if (value->number() == 0) continue;  // UNSPECIFIED is never written
        std::string short_name = ShortName(type, value->name());
        if (absl::EqualsIgnoreCase(text, short_name) || text == value->name()) {
          repeated ? r->AddEnum(message, field, value) : r->SetEnum(message, field, value);
          return absl::OkStatus();
        }
        known.push_back(short_name);
      }
      return Error(path, absl::StrCat("'", text, "' is not one of ", absl::StrJoin(known, ", ")));
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      break;
  }
  return Error(path, "unsupported field type");
}

absl::Status Fill(const YAML::Node& node, Message* message, absl::string_view path);

absl::Status FillValue(const YAML::Node& node, Message* message, const FieldDescriptor* field,
                       absl::string_view path, bool repeated) {
  if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
    const Reflection* r = message->GetReflection();
    Message* child = repeated ? r->AddMessage(message, field) : r->MutableMessage(message, field);
    return Fill(node, child, path);
  }
  return SetScalar(node, message, field, path, repeated);
}

absl::Status FillMap(const YAML::Node& node, Message* message, const FieldDescriptor* field,
                     absl::string_view path) {
  if (!node.IsMap()) return Error(path, absl::StrCat("expected a mapping, got ", KindOf(node)));
  const Reflection* r = message->GetReflection();
  const Descriptor* entry_type = field->message_type();
  for (const auto& kv : node) {
    if (!kv.first.IsScalar()) return Error(path, "map keys must be plain values");
    std::string entry_path = absl::StrCat(path, ".", kv.first.Scalar());
    Message* entry = r->AddMessage(message, field);
    absl::Status s = SetScalar(kv.first, entry, entry_type->map_key(), entry_path, false);
    if (s.ok()) s = FillValue(kv.second, entry, entry_type->map_value(), entry_path, false);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status Fill(const YAML::Node& node, Message* message, absl::string_view path) {
  if (node.IsNull()) return absl::OkStatus();
  if (!node.IsMap()) return Error(path, absl::StrCat("expected a mapping, got ", KindOf(node)));
  const Descriptor* type = message->GetDescriptor();
  for (const auto& kv : node) {
    if (!kv.first.IsScalar()) return Error(path, "keys must be plain names");
    const std::string& key = kv.first.Scalar();
    std::string field_path = Join(path, key);
    const FieldDescriptor* field = type->FindFieldByName(key);
    if (field == nullptr) {
      std::vector<std::string> known;
      for (int i = 0; i < type->field_count(); ++i) known.push_back(type->field(i)->name());
      return Error(field_path,
                   absl::StrCat("unknown field (known here: ", absl::StrJoin(known, ", "), ")"));
    }
    const YAML::Node& value = kv.second;
    if (value.IsNull()) continue;
    absl::Status s;
    if (field->is_map()) {
      s = FillMap(value, message, field, field_path);
    } else if (field->is_repeated()) {
      if (!value.IsSequence()) {
        return Error(field_path, absl::StrCat("expected a list, got ", KindOf(value)));
      }
      for (size_t i = 0; i < value.size() && s.ok(); ++i) {
        s = FillValue(value[i], message, field, absl::StrCat(field_path, "[", i, "]"), true);
      }
    } else {
      s = FillValue(value, message, field, field_path, false);
    }
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ParseYamlInto(absl::string_view text, google::protobuf::Message* message) {
  if (text.size() > kMaxPlanBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "plan: ", text.size(), " bytes is over the limit of ", kMaxPlanBytes, " bytes"));
  }
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("plan: line ", e.mark.line + 1, ", column ", e.mark.column + 1, ": ", e.msg));
  }
  if (root.IsNull()) return absl::InvalidArgumentError("plan: the document is empty");
  message->Clear();
  return Fill(root, message, "");
}

absl::StatusOr<v1::Plan> ParsePlan(absl::string_view text) {
  v1::Plan plan;
  absl::Status status = ParseYamlInto(text, &plan);
  if (!status.ok()) return status;
  return plan;
}

}  // namespace rstmesh
