#include "plugin/image_service_proxy.h"

#include <pthread.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace crimirror::plugin {
namespace {

// Calls each queue can match at once before a waiter is replaced; more than
// one spares a burst of kubelet calls a round trip through the queue.
constexpr int kWaitersPerQueue = 8;

void Serve(grpc::ServerCompletionQueue* queue, int index) {
  // Named for operators reading top -H or a stack dump.
  pthread_setname_np(pthread_self(), absl::StrCat("cri-proxy-", index).c_str());
  void* tag = nullptr;
  bool ok = false;
  while (queue->Next(&tag, &ok)) ProxyCall::Dispatch(tag, ok);
}

}  // namespace

ImageServiceProxy::ImageServiceProxy(std::shared_ptr<grpc::Channel> backend,
                                     std::string backend_target,
                                     PullInterceptor* interceptor, int threads)
    : backend_(std::move(backend)),
      stub_(backend_),
      thread_count_(threads < 1 ? kDefaultProxyThreads : threads) {
  shared_.service = &service_;
  shared_.stub = &stub_;
  shared_.backend_target = std::move(backend_target);
  shared_.interceptor = interceptor;
}

ImageServiceProxy::~ImageServiceProxy() { Stop(); }

void ImageServiceProxy::AddTo(grpc::ServerBuilder* builder) {
  builder->RegisterAsyncGenericService(&service_);
  for (int i = 0; i < thread_count_; ++i) queues_.push_back(builder->AddCompletionQueue());
}

void ImageServiceProxy::Start() {
  for (size_t i = 0; i < queues_.size(); ++i) {
    for (int w = 0; w < kWaitersPerQueue; ++w) ProxyCall::AwaitCall(&shared_, queues_[i].get());
    threads_.emplace_back(Serve, queues_[i].get(), static_cast<int>(i));
  }
}

void ImageServiceProxy::Stop() {
  if (stopped_) return;
  stopped_ = true;
  // A queue may shut down only when nothing can start an operation on it
  // any more: an intercepted PullImage still answers through its queue.
  // (Without Start() no call object was ever made, so this returns at once.)
  while (shared_.live.load(std::memory_order_acquire) > 0) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  for (auto& queue : queues_) queue->Shutdown();
  if (threads_.empty()) {
    // Never started (the server did not build): drain here.
    void* tag = nullptr;
    bool ok = false;
    for (auto& queue : queues_) {
      while (queue->Next(&tag, &ok)) {
      }
    }
  }
  for (auto& thread : threads_) thread.join();
}

}  // namespace crimirror::plugin
